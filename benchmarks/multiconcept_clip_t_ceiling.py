"""CLIP-T of a perfect FreeCustom image under class words: the toy world's own rendering of each composition
(every concept as its reference shows it, at the place the prompt names) against the same scene with every
concept plain, both scored by the toy CLIP on the class-word target prompt the benchmark uses.

With class words (``"a large circle on the left and a large triangle on the right"``) the references' colour,
texture and design are not in the prompt; a CLIP trained on captions that name them scores an image that
shows them lower. What this prints bounds FreeCustom's CLIP-T from above whatever the generator does.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/multiconcept_clip_t_ceiling.py [--seeds 0 1 2] [--pairs 24] [--clip toy]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--pairs", type=int, default=24)
    p.add_argument("--clip", default="toy", help="the CLIP choice of models.clip (default: the toy CLIP)")
    args = p.parse_args(argv)

    import numpy as np  # deferred: the argument parser answers --help at once
    import torch

    from generators.multiconcept.experiment import _compositions
    from generators.multiconcept.toy_concepts import Composition, ToyConcept
    from metrics import CLIPTextScore
    from toyworld.world import ShapesWorld
    from workbench.config import load_config
    from workbench.loading.choice import build_clip
    from workbench.runs.execute import make_runtime

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    world = ShapesWorld(64)
    clip = None
    gaps = []
    for seed in args.seeds:
        sets = ["benchmark.concept_words=class", f"benchmark.pairs={args.pairs}", "benchmark.triples=0"]
        cfg = load_config(ROOT / "examples/multiconcept_toy.yaml", [*sets, f"seed={seed}"])
        rt = make_runtime(cfg)
        clip = clip or build_clip(args.clip, rt)
        comps = _compositions(cfg, rt)  # the claim's compositions at this seed
        scores = {}
        for name, concept in (
            ("as referenced", lambda c: c),
            ("plain", lambda c: ToyConcept(c.shape, c.color, "plain", None, c.words)),
        ):
            metric = CLIPTextScore(clip[0], clip[1], sync_on_compute=False)
            scenes = [
                Composition(tuple(concept(c) for c in comp.concepts), comp.cells).scene for comp in comps
            ]
            metric.update(world.render(scenes).images, [comp.prompt for comp in comps])
            scores[name] = metric.per_item()  # (pairs,)
        gap = scores["as referenced"] - scores["plain"]
        gaps.append(float(gap.mean()))
        print(
            f"seed {seed}: CLIP-T of the world's rendering, as referenced {scores['as referenced'].mean():.2f}, "
            f"every concept plain {scores['plain'].mean():.2f} ({gap.mean():+.2f} +/- "
            f"{gap.std().item() / np.sqrt(len(gap)):.2f} over {len(gap)} pairs)"
        )
    se = np.std(gaps, ddof=1) / np.sqrt(len(gaps)) if len(gaps) > 1 else float("nan")
    print(f"CLIP-T ceiling: as referenced - plain {np.mean(gaps):+.2f} +/- {se:.2f} over seeds {args.seeds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
