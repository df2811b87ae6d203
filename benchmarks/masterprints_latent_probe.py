"""Latent-space CLIPMasterPrints on a toy CLIP, targets only: mine in the toy VAE's latent on the 25 prompts
of an example config, then measure the fooling accuracy against 64 real test scenes per prompt.

The same mining and the same ``fooling_accuracy`` / ``outrank_fraction`` as ``workbench run <config>``,
without the held-out, transfer and shift sections (minutes on a shared CPU). Prints one JSON line per
seed and the mean, standard error and each seed's value.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/masterprints_latent_probe.py --clip toyworld/models/clip-aug \
        --config examples/masterprints_adam_latent.yaml --seeds 0 1 2 \
        --set budget.evaluations=600 --set objective.aggregation=softmin \
        --set optimizer.population=2 --set optimizer.lr=0.2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _override(attack: dict, item: str) -> None:
    """``optimizer.lr=0.2`` into ``attack["optimizer"]["lr"]`` (the value parsed as YAML)."""
    import yaml

    if "=" not in item:
        raise SystemExit(
            f"--set {item!r}: write KEY=VALUE under the config's attack section, e.g. optimizer.lr=0.2"
        )
    key, value = item.split("=", 1)
    *path, last = key.split(".")
    node = attack
    for part in path:
        node = node.setdefault(part, {})
    node[last] = yaml.safe_load(value)


def probe(clip: str, attack: dict, seed: int) -> dict:
    import torch

    from attacks.masterprints.assemble import build_setup
    from attacks.masterprints.config import AttackConfig, ModelsConfig
    from attacks.masterprints.evaluation import RealImageBank, evaluate_fooling
    from attacks.masterprints.restarts import mine_restarts
    from attacks.masterprints.toy_images import ToyWorldImages
    from workbench.runtime import Runtime

    with Runtime(seed=seed) as runtime:
        config = AttackConfig.model_validate(attack)
        setup = build_setup(config, ModelsConfig(clip=clip, vae="toy"), runtime)
        start = time.perf_counter()
        result = mine_restarts(lambda r: setup.optimizer, 1, config.budget, runtime).best
        seconds = time.perf_counter() - start
        real = ToyWorldImages(size=result.image.shape[-1], per_prompt=64, seed=0, split="test")
        with torch.no_grad():
            report = evaluate_fooling(
                setup.scorer, result.image, setup.prompts, RealImageBank(setup.scorer, real)
            )
    margins = [p.master_score - p.best_real_score for p in report.per_prompt]
    return {
        "seed": seed,
        "fooling_accuracy": report.fooling_accuracy,
        "outrank_fraction": report.outrank_fraction,
        "worst_margin": min(margins),
        "mean_margin": statistics.fmean(margins),
        "mean_best_real": statistics.fmean(p.best_real_score for p in report.per_prompt),
        "steps": result.steps,
        "mine_seconds": round(seconds, 1),
    }


def main() -> None:
    import torch
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", required=True, help="the CLIP under attack: a folder or preset")
    parser.add_argument("--config", type=Path, required=True, help="a masterprints example config")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE under the attack section")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    attack = yaml.safe_load(args.config.read_text())["attack"]
    for item in args.set:
        _override(attack, item)
    rows = []
    for seed in args.seeds:
        rows.append(probe(args.clip, attack, seed))
        print(json.dumps(rows[-1]), flush=True)
    for key in ("fooling_accuracy", "outrank_fraction", "worst_margin"):
        values = [r[key] for r in rows]
        se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
        print(f"{key}: mean {statistics.fmean(values):.3f} +/- {se:.3f} (SE); per seed {values}")


if __name__ == "__main__":
    from pydantic import ValidationError

    from workbench.loading.errors import ModelNotAvailableError

    try:
        main()
    except ValidationError as error:
        raise SystemExit(f"masterprints_latent_probe: {error.errors()[0]['msg']}") from None
    except (ModelNotAvailableError, FileNotFoundError, KeyError) as error:
        raise SystemExit(f"masterprints_latent_probe: {error}") from None
