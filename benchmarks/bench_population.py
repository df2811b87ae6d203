"""Batched population scoring vs one candidate at a time, side by side in one run.

Black-box mining evaluates a whole population (a CMA-ES generation) per step. This script measures
candidate evaluations per second of the toy world's architectures with random weights (the toy
CLIP's config: ViT 6 x 192 at 64 px, patch 8; the toy SD's VAE config: latent 4 x 16 x 16), for

- the toy CLIP alone: score ``popsize`` images against the prompts in ONE call vs ``popsize`` calls of one
  (the text embeddings are computed once, before timing, on both paths);
- the space's decode + the score, the same way;
- end to end: CMA-ES through nevergrad, ``ask`` a population / score it in one call / ``tell``, vs
  ``ask`` one / score one / ``tell`` one.

Where the time goes is printed too: the model's GFLOP per candidate (torch's FLOP counter), the
GFLOP/s each path reaches, this thread's float32 matrix-multiply peak (a 1024 x 1024 product), and so the
most batching can give here: one-at-a-time seconds over the seconds of the same FLOPs at that peak.

``--profile`` splits a candidate's score time into preprocessing, the image encoder (its matrix products,
element-wise ops, Python and dispatch), similarity + objective, the text side and the per-call overhead, for
both paths, and derives from it the most batching can give (``benchmarks/population_profile.py``).
``--sweep 8,16,32,64 --threads 1,2`` prints the toy CLIP score's speed-up at each population size and torch
thread count, the two paths interleaved, in wall time and in this process's CPU time (on a shared machine
the CPU-time ratio is the one other processes disturb least). ``--autocast`` runs both paths inside bf16
autocast (the same code on both sides) and prints how far its losses lie from fp32; ``--compile`` runs both
through a ``torch.compile``'d vision tower.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/bench_population.py [--popsize 32] [--repeats 2] [--space pixels]
    OMP_NUM_THREADS=1 python benchmarks/bench_population.py --profile --sweep 8,16,32,64 --threads 1,2
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from population_profile import format_profile, profile_paths  # noqa: E402

logger = logging.getLogger("bench_population")


def build(space_name: str, seed: int = 0):
    """The objective and the space of the benchmark (random weights, the toy world's shapes); the scorer
    behind the objective's black box is ``objective.clip_scorer``."""
    from diffusers import AutoencoderKL
    from transformers import CLIPModel

    from attacks.masterprints import BlackBoxScorer, CLIPScorer, MultiPromptObjective, build_space
    from attacks.masterprints.toy_images import toy_class_prompts
    from toyworld.tokenizer import build_clip_tokenizer
    from toyworld.train.clip import clip_config
    from toyworld.train.vae import VAE_CONFIG

    tok = build_clip_tokenizer()
    torch.manual_seed(seed)
    clip = CLIPModel(clip_config(len(tok), tok.bos_token_id, tok.eos_token_id, image_size=64)).eval()
    scorer = CLIPScorer(clip, tok)
    prompts = toy_class_prompts()[:25]
    objective = MultiPromptObjective(BlackBoxScorer.from_scorer(scorer, prompts), prompts)
    objective.clip_scorer = scorer
    vae = AutoencoderKL(**VAE_CONFIG).eval() if space_name == "vae_latent" else None
    cfg = {"name": space_name, "param_size": 16} if space_name == "pixels" else {"name": space_name}
    space = build_space(cfg, image_size=64, vae=vae)
    return objective, space


@torch.no_grad()
def model_rate(objective, space, popsize: int, batched: bool, repeats: int) -> float:
    """Candidate evaluations per second of decode + score."""
    gen = torch.Generator().manual_seed(1)
    params = torch.randn(popsize, *space.shape, generator=gen)
    objective.loss(space.decode(params[:2]))  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        if batched:
            objective.loss(space.decode(params))  # (popsize,): one call
        else:
            for i in range(popsize):
                objective.loss(space.decode(params[i : i + 1]))
    return repeats * popsize / (time.perf_counter() - start)


@torch.no_grad()
def clip_rate(objective, space, popsize: int, batched: bool, repeats: int) -> float:
    """Candidate evaluations per second of the score alone (images in, per-prompt scores out)."""
    images = torch.rand(popsize, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    objective.loss(images[:2])  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        if batched:
            objective.loss(images)  # (popsize,): one call
        else:
            for i in range(popsize):
                objective.loss(images[i : i + 1])
    return repeats * popsize / (time.perf_counter() - start)


@torch.no_grad()
def gflop_per_candidate(objective, space, popsize: int, decode: bool = True) -> float:
    """The decode + score FLOPs of one candidate (torch's counter, at batch ``popsize``); the score's
    alone on 64 px images with ``decode=False``."""
    from torch.utils.flop_counter import FlopCounterMode

    gen = torch.Generator().manual_seed(1)
    with FlopCounterMode(display=False) as counter:
        if decode:
            objective.loss(space.decode(torch.randn(popsize, *space.shape, generator=gen)))
        else:
            objective.loss(torch.rand(popsize, 3, 64, 64, generator=gen))
    return counter.get_total_flops() / popsize / 1e9


def matmul_peak_gflops(n: int = 1024, repeats: int = 5, clock=time.perf_counter) -> float:
    """The matrix-multiply rate of torch's threads (the best of ``repeats`` n x n products; float32, or bf16
    inside bf16 autocast), per wall second, or per CPU second of the process with ``clock=time.process_time``."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_seconds(lambda: a @ b, clock) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _seconds(fn, clock=time.perf_counter) -> float:
    start = clock()
    fn()
    return clock() - start


def cma_rate(objective, space, popsize: int, batched: bool, generations: int) -> float:
    """Candidate evaluations per second of CMA-ES mining, nevergrad's ask / tell included."""
    import nevergrad as ng

    param = ng.p.Array(shape=(space.dim,))
    param.random_state = np.random.RandomState(0)
    opt = ng.optimizers.ParametrizedCMA(scale=1.0, popsize=popsize)(param, budget=None, num_workers=popsize)
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(generations):
            cands = [opt.ask() for _ in range(popsize)]
            if batched:
                x = space.from_vectors(np.stack([c.value for c in cands]))
                losses = objective.loss(space.decode(x)).tolist()
            else:
                losses = [
                    float(objective.loss(space.decode(space.from_vectors(c.value[None])))[0]) for c in cands
                ]
            for c, loss in zip(cands, losses):
                opt.tell(c, loss)
    return generations * popsize / (time.perf_counter() - start)


def _precision(autocast: bool) -> contextlib.AbstractContextManager:
    return torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()


@torch.no_grad()
def sweep(objective, popsizes: list[int], threads: list[int], rounds: int, autocast: bool) -> list[str]:
    """The toy CLIP score's speed-up per population size and thread count, both paths interleaved (each row
    is printed as soon as it is measured, and the rows are returned)."""
    lines = [
        f"{'threads':>7s} {'popsize':>7s} {'one ms/cand':>12s} {'batched ms/cand':>16s} {'speed-up':>9s} "
        f"{'CPU-time speed-up':>18s} {'load':>5s}"
    ]
    print(lines[0], flush=True)
    saved = torch.get_num_threads()
    try:
        for n in threads:
            torch.set_num_threads(n)
            for popsize in popsizes:
                images = torch.rand(popsize, 3, 64, 64, generator=torch.Generator().manual_seed(1))
                wall, cpu = {False: [], True: []}, {False: [], True: []}
                with _precision(autocast):
                    objective.loss(images[:2])  # warm-up
                    for _ in range(rounds):  # alternate, so that a busy machine slows both sides alike
                        for batched in (False, True):
                            w, c = time.perf_counter(), time.process_time()
                            if batched:
                                objective.loss(images)  # (popsize,): one call
                            else:
                                for i in range(popsize):
                                    objective.loss(images[i : i + 1])
                            wall[batched].append(time.perf_counter() - w)
                            cpu[batched].append(time.process_time() - c)
                one, batch = float(np.median(wall[False])), float(np.median(wall[True]))
                ratio_cpu = float(np.median(cpu[False])) / float(np.median(cpu[True]))
                lines.append(
                    f"{n:7d} {popsize:7d} {1e3 * one / popsize:12.2f} {1e3 * batch / popsize:16.2f} "
                    f"{one / batch:8.2f}x {ratio_cpu:17.2f}x {os.getloadavg()[0]:5.1f}"
                )
                print(lines[-1], flush=True)
    finally:
        torch.set_num_threads(saved)
    return lines


@torch.no_grad()
def autocast_deviation(objective, popsize: int) -> str:
    """How far bf16 autocast's losses lie from fp32's, batched and one at a time."""
    images = torch.rand(popsize, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    ref = objective.loss(images)
    with _precision(True):
        batched = objective.loss(images)
        one = torch.cat([objective.loss(images[i : i + 1]) for i in range(popsize)])
    order = (torch.argsort(batched) == torch.argsort(ref)).float().mean()
    return (
        f"bf16 autocast vs fp32 losses (cosine units): largest difference batched {(batched - ref).abs().max():.2e}, "
        f"one at a time {(one - ref).abs().max():.2e}; ranks of the population kept: {100 * order:.0f} %"
    )


def compile_vision_tower(objective) -> None:
    """Swap the toy CLIP's vision tower for its ``torch.compile`` (inductor, weights frozen as constants),
    compiled here for batch 1 and batch 2 and checked against the eager losses."""
    import torch._inductor.config as inductor_config  # deferred: inductor loads only with --compile

    inductor_config.freezing = True
    clip = objective.clip_scorer.model
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        eager = objective.loss(images)
        clip.vision_model = torch.compile(clip.vision_model, dynamic=False)
        start = time.perf_counter()
        compiled = torch.cat([objective.loss(images[:1]), objective.loss(images[1:])])
        objective.loss(images)
    print(
        f"torch.compile: {time.perf_counter() - start:.0f} s to compile; largest loss difference from eager "
        f"{(compiled - eager).abs().max():.1e}"
    )


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected positive integers separated by commas (8,16,32), got {text!r}"
        )
    return values


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--popsize", type=int, default=32, help="candidates per generation")
    parser.add_argument("--repeats", type=int, default=2, help="populations timed per measurement")
    parser.add_argument("--generations", type=int, default=2, help="CMA-ES generations per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians are reported)")
    parser.add_argument("--space", default="pixels", choices=["vae_latent", "pixels"])
    parser.add_argument(
        "--profile", action="store_true", help="print where a candidate's time goes, both paths"
    )
    parser.add_argument(
        "--sweep", type=_ints, default=None, help="population sizes of the speed-up table: 8,16,32,64"
    )
    parser.add_argument("--threads", type=_ints, default=None, help="torch thread counts of the table: 1,2")
    parser.add_argument("--autocast", action="store_true", help="both paths in bf16 autocast (default fp32)")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="both paths through torch.compile'd vision tower (inductor, frozen weights)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.popsize < 1 or args.repeats < 1 or args.rounds < 1 or args.generations < 1:
        parser.error("--popsize, --repeats, --rounds and --generations must be at least 1")

    objective, space = build(args.space)
    if args.compile:
        compile_vision_tower(objective)
    if args.autocast:
        print(autocast_deviation(objective, args.popsize))
    if args.sweep:
        threads = args.threads or [torch.get_num_threads()]
        print(
            f"toy CLIP score, {'bf16 autocast' if args.autocast else 'fp32'}, medians of {args.rounds} rounds:"
        )
        sweep(objective, args.sweep, threads, args.rounds, args.autocast)
    rows = []
    for label, fn, count in (
        ("toy CLIP score", clip_rate, args.repeats),
        (f"decode ({space.name}) + score", model_rate, args.repeats),
        ("CMA-ES mining (ask / score / tell)", cma_rate, args.generations),
    ):
        ones, batches = [], []
        for _ in range(args.rounds):  # alternate, so that a busy machine slows both sides alike
            with _precision(args.autocast):
                ones.append(fn(objective, space, args.popsize, False, count))
                batches.append(fn(objective, space, args.popsize, True, count))
        rows.append((label, float(np.median(ones)), float(np.median(batches))))
    gflop = gflop_per_candidate(objective, space, args.popsize)
    with _precision(args.autocast):
        peak = matmul_peak_gflops()
    print(
        f"space {space.name} ({space.dim} dims), popsize {args.popsize}, torch threads {torch.get_num_threads()}, "
        f"{'bf16 autocast' if args.autocast else 'fp32'}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'':38s} {'one at a time':>14s} {'batched':>10s} {'speed-up':>9s}   (candidate evaluations / s, medians)"
    )
    for label, one, batch in rows:
        print(f"{label:38s} {one:14.1f} {batch:10.1f} {batch / one:8.1f}x")
    one, batch = rows[1][1], rows[1][2]
    print(
        f"decode + score: {gflop:.3f} GFLOP per candidate; one at a time {gflop * one:.1f} GFLOP/s, batched "
        f"{gflop * batch:.1f} GFLOP/s; {'bf16' if args.autocast else 'float32'} matmul peak of the "
        f"{torch.get_num_threads()} thread(s) {peak:.1f} GFLOP/s, so batching "
        f"can give at most {peak / (gflop * one):.1f}x here"
    )
    if args.profile:
        scorer = objective.clip_scorer
        result = profile_paths(
            objective,
            scorer,
            scorer.encode_text(objective.prompts),
            args.popsize,
            2 * args.rounds + 1,
            args.autocast,
        )
        clip_gflop = gflop_per_candidate(objective, None, args.popsize, decode=False)
        with _precision(args.autocast):
            cpu_peak = matmul_peak_gflops(clock=time.process_time)  # the profile's times are CPU times
        print("\n".join(format_profile(result, args.popsize, clip_gflop, cpu_peak)))


if __name__ == "__main__":
    main()
