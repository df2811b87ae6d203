"""Measured claims on the shipped toy models, rerun end to end (marker ``slow``:
``make test-slow``, a few CPU-minutes each). Runs are deterministic on the CPU, so these are the numbers
the README reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.config import load_config
from workbench.runs import run_experiment

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(tmp_path, example: str, overrides: list[str]) -> dict:
    """Run an example config with ``--set``-style overrides; its ``metrics.json``."""
    cfg = load_config(EXAMPLES / example, [*overrides, f"output_dir={tmp_path}"])
    run_dir = run_experiment(cfg)
    return json.loads((run_dir / "metrics.json").read_text())


def test_region_prompts_beat_stock_by_30_points_on_two_object_layouts(tmp_path):
    m = _run(tmp_path, "layout_eval.yaml", ["prompts.counts={2: 96}", "methods=[stock,regions]"])
    gain = m["regions.two_object.all_in_box"] - m["stock.two_object.all_in_box"]
    assert gain >= 0.30, f"regions gain {gain:.3f} over stock (all objects in their boxes)"
    assert m["regions.two_object.mean_iou"] >= 0.6


def test_neighbour_blending_draws_rare_and_unseen_entities(tmp_path):
    m = _run(tmp_path, "retrieval_entitydrawbench.yaml", ["retrieval.modes=[blend]"])
    for bucket in ("rare", "unseen"):
        gain = m[f"blend/single.{bucket}.fidelity"] - m[f"none/single.{bucket}.fidelity"]
        assert gain >= 30.0, f"{bucket}: blend {gain:+.1f} points over no retrieval"
    assert m["blend/single.frequent.fidelity"] >= m["none/single.frequent.fidelity"] - 5.0


def test_master_image_detector_catches_held_out_masters(tmp_path):
    m = _run(
        tmp_path,
        "masterprints_adam_pixels.yaml",
        [
            "attack.budget.evaluations=800",
            "attack.objective.aggregation=softmin",
            "attack.optimizer.lr=0.05",
            "evaluation.detector={}",
        ],
    )
    assert m["detector_test_masters"] >= 32 and m["detector_test_real"] >= 512
    assert m["detector_tpr_at_1pct_fpr"] >= 0.95
