"""The toy world's measured claims over seeds: each claim's per-seed table with its commands.

Every claim runs its example config once per seed; seed ``s`` moves every seed field of the config (the
run ``seed`` for the initial noise, and the seed of what is drawn: layouts, bench prompts, the
knowledge base's views, the real scenes) by ``s``, so seed 0 is the shipped config. A quantity holds when
its mean reaches the target and its worst seed is no more than two standard errors below it.

Usage:
    OMP_NUM_THREADS=2 python benchmarks/claims_over_seeds.py [--claims layout retrieval detector]
        [--seeds 0 1 2] [--output runs/claims] [--markdown]

Per seed on a shared 2-core CPU: layout 5 min (32 two-object layouts), retrieval 6.5 min (4 entities per
bucket), detector 10-12 min, multiconcept 10 min (24 pairs x 4 images, FreeCustom and text-only; 20 min on a
busy machine); paraphrase 52 min on a busy machine (32 generations, three watermarks).
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

from workbench.claims import Claim, Quantity, command, run_claim  # noqa: E402


def _diff(a: str, b: str):
    """``metrics[a] - metrics[b]``."""
    return lambda m: float(m[a]) - float(m[b])


def _key(a: str):
    return lambda m: float(m[a])


POST_HOC = ("dwtDct", "dwtDctSvd", "rivaGan")
PARAPHRASE_OVERRIDES = (
    "watermarks=[dwtDct,dwtDctSvd,rivaGan]",
    "generation.num_images=32",
    "generation.num_inference_steps=25",
    "attacks=[{name: paraphrase, options: {guidance_scale: 5.0, num_inference_steps: 25, "
    "decoder_inversion_steps: 50}}]",
    "strengths=[0.1]",
)

MULTICONCEPT_OVERRIDES = (
    "benchmark.concept_words=class",
    "benchmark.pairs=24",
    "benchmark.triples=0",
    "benchmark.images_per_composition=4",
    "generation.num_inference_steps=25",
    "generation.guidance_scale=5",
    "baselines.methods=[freecustom,text]",
)

CLAIMS: dict[str, Claim] = {
    "layout": Claim(
        name="layout",
        statement="region prompts: +30 points all-in-box over stock on two-object layouts, mean IoU >= 0.6",
        example="examples/layout_eval.yaml",
        overrides=("prompts.counts={2: 32}", "methods=[stock,regions]"),
        seed_fields={"seed": 0, "prompts.seed": 999},
        quantities=(
            Quantity(
                "regions - stock, all in box",
                _diff("regions.two_object.all_in_box", "stock.two_object.all_in_box"),
                0.30,
            ),
            Quantity("regions mean IoU", _key("regions.two_object.mean_iou"), 0.6),
        ),
    ),
    "retrieval": Claim(
        name="retrieval",
        statement="neighbour blending: +30 fidelity points over no retrieval on rare and unseen entities",
        example="examples/retrieval_entitydrawbench.yaml",
        overrides=("retrieval.modes=[blend]", "bench.entities_per_bucket=4"),
        seed_fields={"seed": 0, "bench.prompt_seed": 7, "knowledge_base.seed": 0},
        quantities=(
            Quantity(
                "blend - none, rare", _diff("blend/single.rare.fidelity", "none/single.rare.fidelity"), 30.0
            ),
            Quantity(
                "blend - none, unseen",
                _diff("blend/single.unseen.fidelity", "none/single.unseen.fidelity"),
                30.0,
            ),
            Quantity(
                "blend - none, frequent",
                _diff("blend/single.frequent.fidelity", "none/single.frequent.fidelity"),
                -5.0,
            ),
        ),
    ),
    "detector": Claim(
        name="detector",
        statement="the master-image detector catches >= 95 % of held-out master images at 1 % FPR",
        example="examples/masterprints_adam_pixels.yaml",
        overrides=(
            "attack.budget.evaluations=800",
            "attack.objective.aggregation=softmin",
            "attack.optimizer.lr=0.05",
            "evaluation.detector={}",
        ),
        seed_fields={"seed": 0, "evaluation.world_seed": 0},
        quantities=(Quantity("detector TPR @ 1% FPR", _key("detector_tpr_at_1pct_fpr"), 0.95),),
    ),
    "treering": Claim(
        name="treering",
        statement="Tree-Ring is detected at TPR@1%FPR >= 0.9 without attack on 32 toy SD generations at guidance 5",
        example="examples/watermark_quick.yaml",
        overrides=(
            "watermarks=[treering]",
            "attacks=[]",
            "photos.names=[]",
            "generation.num_images=32",
        ),
        seed_fields={"seed": 0},
        quantities=(Quantity("treering TPR @ 1% FPR", _key("treering.none.tpr_at_1pct_fpr"), 0.9),),
    ),
    "multiconcept": Claim(
        name="multiconcept",
        statement=(
            "FreeCustom (MRSA) on the cross-image toy SD, concepts named by class words: both concepts of a pair "
            "found in >= 60 % of images, +30 points over text-only, CLIP-T not lower than text-only's"
        ),
        example="examples/multiconcept_toy.yaml",
        overrides=MULTICONCEPT_OVERRIDES,
        seed_fields={"seed": 0},
        quantities=(
            Quantity("freecustom both found", _key("claims.both_found"), 0.60),
            Quantity("both found - text-only", _key("claims.both_found_gain_over_text"), 0.30),
            Quantity("CLIP-T - text-only", _key("claims.clip_t_minus_text"), 0.0),
        ),
    ),
    "paraphrase": Claim(
        name="paraphrase",
        statement=(
            "visual paraphrase (s = 0.1, guidance 5, 50 decoder-inversion steps) removes dwtDct, dwtDctSvd and "
            "rivaGan (bit accuracy <= 0.6) while the judge keeps the content of >= 90 % of toy SD generations"
        ),
        example="examples/watermark_quick.yaml",
        overrides=PARAPHRASE_OVERRIDES,
        seed_fields={"seed": 0},
        quantities=tuple(
            q
            for wm in POST_HOC
            for q in (
                Quantity(f"{wm} judge kept", _key(f"{wm}.paraphrase.0.1.judge_preserved"), 0.90),
                Quantity(f"{wm} bit accuracy", _key(f"{wm}.paraphrase.0.1.bit_accuracy"), 0.6, higher=False),
            )
        ),
    ),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--claims", nargs="+", choices=sorted(CLAIMS), default=list(CLAIMS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--output", default="runs/claims-over-seeds")
    p.add_argument("--markdown", action="store_true", help="also print markdown tables")
    args = p.parse_args(argv)
    failed = 0
    for name in args.claims:
        claim = CLAIMS[name]
        start = time.perf_counter()
        summaries = run_claim(
            claim,
            args.seeds,
            Path(args.output) / name,
            examples_dir=ROOT,
            log=lambda s: print(f"  {s}", flush=True),
        )
        print(f"\n== {claim.name}: {claim.statement} ({time.perf_counter() - start:.0f} s)")
        for seed in args.seeds:
            print(f"   seed {seed}: {command(claim, seed)}")
        for q, s in summaries.items():
            print(f"   {s.line(q)}")
            failed += not s.holds
        if args.markdown:
            seeds = " | ".join(f"seed {s}" for s in args.seeds)
            print(f"\n| quantity | mean +/- SE | {seeds} | target |")
            print("|---" * (3 + len(args.seeds)) + "|")
            for q, s in summaries.items():
                print(s.markdown_row(q))
        print(flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
