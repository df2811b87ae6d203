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

Usage:
    OMP_NUM_THREADS=1 python benchmarks/bench_population.py [--popsize 32] [--repeats 2] [--space pixels]
"""

from __future__ import annotations

import argparse
import logging
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

logger = logging.getLogger("bench_population")


def build(space_name: str, seed: int = 0):
    """The objective and the space of the benchmark (random weights, the toy world's shapes)."""
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
def gflop_per_candidate(objective, space, popsize: int) -> float:
    """The decode + score FLOPs of one candidate (torch's counter, at batch ``popsize``)."""
    from torch.utils.flop_counter import FlopCounterMode

    params = torch.randn(popsize, *space.shape, generator=torch.Generator().manual_seed(1))
    with FlopCounterMode(display=False) as counter:
        objective.loss(space.decode(params))
    return counter.get_total_flops() / popsize / 1e9


def matmul_peak_gflops(n: int = 1024, repeats: int = 5) -> float:
    """This thread's float32 matrix-multiply rate (the best of ``repeats`` n x n products)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--popsize", type=int, default=32, help="candidates per generation")
    parser.add_argument("--repeats", type=int, default=2, help="populations timed per measurement")
    parser.add_argument("--generations", type=int, default=2, help="CMA-ES generations per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians are reported)")
    parser.add_argument("--space", default="pixels", choices=["vae_latent", "pixels"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    objective, space = build(args.space)
    rows = []
    for label, fn, count in (
        ("toy CLIP score", clip_rate, args.repeats),
        (f"decode ({space.name}) + score", model_rate, args.repeats),
        ("CMA-ES mining (ask / score / tell)", cma_rate, args.generations),
    ):
        ones, batches = [], []
        for _ in range(args.rounds):  # alternate, so that a busy machine slows both sides alike
            ones.append(fn(objective, space, args.popsize, False, count))
            batches.append(fn(objective, space, args.popsize, True, count))
        rows.append((label, float(np.median(ones)), float(np.median(batches))))
    gflop = gflop_per_candidate(objective, space, args.popsize)
    peak = matmul_peak_gflops()
    print(
        f"space {space.name} ({space.dim} dims), popsize {args.popsize}, torch threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'':38s} {'one at a time':>14s} {'batched':>10s} {'speed-up':>9s}   (candidate evaluations / s, medians)"
    )
    for label, one, batch in rows:
        print(f"{label:38s} {one:14.1f} {batch:10.1f} {batch / one:8.1f}x")
    one, batch = rows[1][1], rows[1][2]
    print(
        f"decode + score: {gflop:.3f} GFLOP per candidate; one at a time {gflop * one:.1f} GFLOP/s, batched "
        f"{gflop * batch:.1f} GFLOP/s; float32 matmul peak of this thread {peak:.1f} GFLOP/s, so batching "
        f"can give at most {peak / (gflop * one):.1f}x here"
    )


if __name__ == "__main__":
    main()
