"""Why FreeCustom misses a concept of a pair: the judge's detections of every missed concept, sorted into the
kinds docs/multiconcept.md names ("Over seeds: which compositions fail").

For a concept of a two-concept composition the judge did not find (its class: the shape of a plain object,
"an emblem" for a named entity):

- **copy**: no detection of its class, and its partner's class detected at least twice (the partner drawn
  twice; ``copy_first`` counts those where the partner is the first-named concept);
- **appearance**: a detection of its class not taken by its partner, with the wrong colour / texture / design
  (``from_partner`` counts those whose colour or texture is the partner's, where its own differs);
- **lost**: neither (no object of its class, and no double of its partner).

Reads finished ``multiconcept`` runs (their config, the saved images of a method) and re-runs the judge.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/multiconcept_misses.py RUN_DIR [RUN_DIR ...] [--method freecustom]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KINDS = ("found", "copy", "copy_first", "appearance", "from_partner", "lost")


def _same_class(detection, concept) -> bool:
    if concept.entity is not None:
        return detection.entity is not None
    return detection.entity is None and detection.shape == concept.shape


def classify(detections, composition, attributes) -> list[str]:
    """One kind per concept of a pair: ``found``, ``copy`` / ``copy_first``, ``appearance`` /
    ``from_partner`` or ``lost`` (the module doc)."""
    from generators.multiconcept.evaluate import judge_composition, matches

    verdicts = judge_composition(detections, composition, attributes)
    kinds = []
    for k, (concept, verdict) in enumerate(zip(composition.concepts, verdicts)):
        if verdict.found:
            kinds.append("found")
            continue
        p = 1 - k
        partner = composition.concepts[p]
        taken = next((d for d in detections if verdicts[p].found and tuple(d.box) == verdicts[p].box), None)
        mine = [d for d in detections if d is not taken and _same_class(d, concept)]
        if mine:
            d = max(mine, key=lambda d: d.score)
            own_look = matches(d, concept, attributes)
            borrowed = concept.entity is None and (
                (d.color == partner.color != concept.color)
                or (d.texture == partner.texture != concept.texture)
            )
            kinds.append("from_partner" if borrowed and not own_look else "appearance")
        elif sum(_same_class(d, partner) for d in detections) >= 2:
            kinds.append("copy_first" if p == 0 else "copy")
        else:
            kinds.append("lost")
    return kinds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run folders (holding config.yaml and outputs/)")
    p.add_argument("--method", default="freecustom")
    p.add_argument("--json", type=Path, default=None, help="also write the counts per run here")
    args = p.parse_args(argv)

    import numpy as np
    import torch
    from PIL import Image

    from generators.multiconcept.experiment import _compositions, load_judge
    from workbench.config import load_config
    from workbench.runs.execute import make_runtime

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    judge = None
    table = {}
    for run in args.runs:
        cfg = load_config(run / "config.yaml")
        rt = make_runtime(cfg)
        judge = judge or load_judge(cfg.models.judge, rt)[0]
        if judge is None:
            raise SystemExit("no trained judge: train or ship toyworld/models/judge first")
        comps = _compositions(cfg, rt)
        counts: Counter = Counter()
        n = cfg.benchmark.images_per_composition
        for c, comp in enumerate(comps):
            if len(comp.concepts) != 2:
                continue
            files = [run / "outputs" / args.method / f"c{c:04d}-{i}.png" for i in range(n)]
            arrays = [np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255 for f in files]
            batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)  # (N, 3, H, W) in [0, 1]
            for dets in judge.detect(batch):
                counts.update(classify(dets, comp, cfg.score.judge_attributes))
        table[str(run)] = {k: counts.get(k, 0) for k in KINDS}
        row = " ".join(f"{k} {counts.get(k, 0)}" for k in KINDS)
        print(f"{run}: {row}")
    total = Counter()
    for row in table.values():
        total.update(row)
    print("total: " + " ".join(f"{k} {total.get(k, 0)}" for k in KINDS))
    if args.json:
        args.json.write_text(json.dumps({"runs": table, "total": dict(total)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
