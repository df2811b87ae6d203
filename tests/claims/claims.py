"""The measured claims on the shipped toy models, as functions of a device override: the CPU runs them
in ``test_claims_toy.py`` (marker ``slow``), a GPU at full speed in ``tests/gpu/test_gpu_claims.py``."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.config import load_config
from workbench.runs import run_experiment

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(tmp_path: Path, example: str, overrides: list[str]) -> dict:
    """Run an example config with ``--set``-style overrides; its ``metrics.json``."""
    cfg = load_config(EXAMPLES / example, [*overrides, f"output_dir={tmp_path}"])
    run_dir = run_experiment(cfg)
    return json.loads((run_dir / "metrics.json").read_text())


def claim_regions_beat_stock(tmp_path: Path, extra: list[str] = ()) -> None:
    """Region prompts put all objects in their boxes 30 points more often than the stock pipeline."""
    m = run_example(
        tmp_path, "layout_eval.yaml", ["prompts.counts={2: 96}", "methods=[stock,regions]", *extra]
    )
    gain = m["regions.two_object.all_in_box"] - m["stock.two_object.all_in_box"]
    assert gain >= 0.30, f"regions gain {gain:.3f} over stock (all objects in their boxes)"
    assert m["regions.two_object.mean_iou"] >= 0.6


def claim_blend_draws_rare_entities(tmp_path: Path, extra: list[str] = ()) -> None:
    """Neighbour blending draws rare and unseen entities 30 fidelity points better than no retrieval."""
    m = run_example(tmp_path, "retrieval_entitydrawbench.yaml", ["retrieval.modes=[blend]", *extra])
    for bucket in ("rare", "unseen"):
        gain = m[f"blend/single.{bucket}.fidelity"] - m[f"none/single.{bucket}.fidelity"]
        assert gain >= 30.0, f"{bucket}: blend {gain:+.1f} points over no retrieval"
    assert m["blend/single.frequent.fidelity"] >= m["none/single.frequent.fidelity"] - 5.0


def claim_detector_catches_masters(tmp_path: Path, extra: list[str] = ()) -> None:
    """A detector trained on mined master images catches held-out ones (TPR >= 0.95 at 1 % FPR)."""
    m = run_example(
        tmp_path,
        "masterprints_adam_pixels.yaml",
        [
            "attack.budget.evaluations=800",
            "attack.objective.aggregation=softmin",
            "attack.optimizer.lr=0.05",
            "evaluation.detector={}",
            *extra,
        ],
    )
    assert m["detector_test_masters"] >= 32 and m["detector_test_real"] >= 512
    assert m["detector_tpr_at_1pct_fpr"] >= 0.95


CLAIMS = {
    "regions_beat_stock": claim_regions_beat_stock,
    "blend_draws_rare_entities": claim_blend_draws_rare_entities,
    "detector_catches_masters": claim_detector_catches_masters,
}
