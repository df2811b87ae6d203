"""The measured claims of the generators on the shipped toy models, rerun end to end (marker ``slow``:
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


def _run(tmp_path, example: str, overrides: dict) -> dict:
    cfg = load_config(EXAMPLES / example)
    data = cfg.model_dump(mode="json")
    for dotted, value in {**overrides, "output_dir": str(tmp_path)}.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    run_dir = run_experiment(type(cfg).model_validate(data))
    return json.loads((run_dir / "metrics.json").read_text())


def test_region_prompts_beat_stock_by_30_points_on_two_object_layouts(tmp_path):
    m = _run(tmp_path, "layout_eval.yaml", {"prompts.counts": {2: 96}, "methods": ["stock", "regions"]})
    gain = m["regions.two_object.all_in_box"] - m["stock.two_object.all_in_box"]
    assert gain >= 0.30, f"regions gain {gain:.3f} over stock (all objects in their boxes)"
    assert m["regions.two_object.mean_iou"] >= 0.6


def test_neighbour_blending_draws_rare_and_unseen_entities(tmp_path):
    m = _run(tmp_path, "retrieval_entitydrawbench.yaml", {"retrieval.modes": ["blend"]})
    for bucket in ("rare", "unseen"):
        gain = m[f"blend/single.{bucket}.fidelity"] - m[f"none/single.{bucket}.fidelity"]
        assert gain >= 30.0, f"{bucket}: blend {gain:+.1f} points over no retrieval"
    assert m["blend/single.frequent.fidelity"] >= m["none/single.frequent.fidelity"] - 5.0
