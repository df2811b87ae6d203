"""Batched population scoring vs one candidate at a time, side by side in one run.

Black-box mining evaluates a whole population (a CMA-ES generation) per step. This script measures
candidate evaluations per second of the toy world's architectures with random weights (the toy
CLIP's config: ViT 6 x 192 at 64 px, patch 8; the toy SD's VAE config: latent 4 x 16 x 16), for

- the model alone: decode + score ``popsize`` candidates in ONE call vs ``popsize`` calls of one;
- end to end: CMA-ES through nevergrad, ``ask`` a population / score it in one call / ``tell``, vs
  ``ask`` one / score one / ``tell`` one.

Usage:
    OMP_NUM_THREADS=2 python benchmarks/bench_population.py [--popsize 24] [--repeats 3] [--space vae_latent]
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
    parser.add_argument(
        "--popsize", type=int, default=24, help="candidates per generation (CMA-ES on 1024 dims: 24)"
    )
    parser.add_argument("--repeats", type=int, default=2, help="populations timed per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians are reported)")
    parser.add_argument("--space", default="vae_latent", choices=["vae_latent", "pixels"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    objective, space = build(args.space)
    rows = []
    for label, fn in (
        ("model (decode + score)", model_rate),
        ("CMA-ES mining (ask / score / tell)", cma_rate),
    ):
        ones, batches = [], []
        for _ in range(args.rounds):  # alternate, so that a busy machine slows both sides alike
            ones.append(fn(objective, space, args.popsize, False, args.repeats))
            batches.append(fn(objective, space, args.popsize, True, args.repeats))
        rows.append((label, float(np.median(ones)), float(np.median(batches))))
    print(
        f"space {space.name} ({space.dim} dims), popsize {args.popsize}, torch threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'':38s} {'one at a time':>14s} {'batched':>10s} {'speed-up':>9s}   (candidate evaluations / s, medians)"
    )
    for label, one, batch in rows:
        print(f"{label:38s} {one:14.1f} {batch:10.1f} {batch / one:8.1f}x")


if __name__ == "__main__":
    main()
