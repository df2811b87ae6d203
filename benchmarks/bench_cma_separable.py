"""CMA-ES per generation, full covariance vs the separable default, side by side in one run.

Mining in the toy CLIP's 64 x 64 pixels is 12,288 dimensions. There a full-covariance CMA-ES spends
nearly all its time in its own update (``n**2 * popsize`` for the rank-mu update and the sampling, plus
an eigendecomposition now and then), not in scoring; ``optimizer.separable_above`` (default 4,096) runs
sep-CMA above it, whose update is linear in the dimension. This script runs a few generations of the
registered ``cma`` optimiser both ways on the toy CLIP's architecture (random weights) and prints the
seconds per generation, the share spent scoring, and the ratio.

Usage:
    OMP_NUM_THREADS=2 python benchmarks/bench_cma_separable.py [--size 64] [--generations 3] [--popsize 32]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402


def build_objective(size: int):
    """A black-box objective on the toy CLIP's architecture (random weights) at ``size`` pixels."""
    from transformers import CLIPModel

    from attacks.masterprints import BlackBoxScorer, CLIPScorer, MultiPromptObjective
    from attacks.masterprints.toy_images import toy_class_prompts
    from toyworld.tokenizer import build_clip_tokenizer
    from toyworld.train.clip import clip_config

    tok = build_clip_tokenizer()
    torch.manual_seed(0)
    clip = CLIPModel(clip_config(len(tok), tok.bos_token_id, tok.eos_token_id, image_size=size)).eval()
    prompts = toy_class_prompts()[:25]
    return MultiPromptObjective(BlackBoxScorer.from_scorer(CLIPScorer(clip, tok), prompts), prompts)


def time_generations(objective, size: int, popsize: int, generations: int, separable_above: int | None):
    """``(seconds per generation, seconds scoring per generation, separable)`` of ``cma`` in pixels."""
    from attacks.masterprints import build_optimizer, build_space
    from workbench.runtime import Runtime

    space = build_space({"name": "pixels", "init": "gray"}, image_size=size)
    cfg = {"name": "cma", "popsize": popsize, "separable_above": separable_above, "max_covariance_gib": 64}
    opt = build_optimizer(cfg, space, objective, Runtime(seed=0, device="cpu"))
    scoring = 0.0
    original = objective.loss

    def timed(images):
        nonlocal scoring
        t = time.perf_counter()
        out = original(images)
        scoring += time.perf_counter() - t
        return out

    objective.loss = timed
    try:
        opt.step()  # warm-up (allocations, first model call)
        scoring = 0.0
        start = time.perf_counter()
        for _ in range(generations):
            opt.step()
        total = time.perf_counter() - start
    finally:
        del objective.loss
    return total / generations, scoring / generations, opt.separable


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=64, help="image side: 3 * size**2 dimensions")
    p.add_argument("--generations", type=int, default=3)
    p.add_argument("--popsize", type=int, default=32)
    args = p.parse_args(argv)
    objective = build_objective(args.size)
    dim = 3 * args.size**2
    print(f"cma in pixels, {dim} dimensions, popsize {args.popsize}, {torch.get_num_threads()} threads")
    rows = {}
    for label, limit in (("full covariance (before)", None), ("separable default (after)", 4096)):
        per_gen, scoring, separable = time_generations(
            objective, args.size, args.popsize, args.generations, limit
        )
        rows[label] = per_gen
        print(
            f"  {label:27s} separable={separable!s:5s} {per_gen:8.3f} s / generation, "
            f"{scoring / per_gen:5.1%} scoring, {1 - scoring / per_gen:5.1%} CMA-ES update"
        )
    before, after = rows.values()
    print(f"  ratio full / separable: {before / after:.1f}x faster per generation")


if __name__ == "__main__":
    main()
