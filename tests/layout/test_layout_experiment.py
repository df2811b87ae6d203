"""The ``layout-eval`` experiment end to end on random weights, its resume, and the example configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generators.layout.experiment import LayoutEvalConfig, eval_scenes
from workbench.config import load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _cfg(tmp_path, **kw):
    base = dict(
        models={"sd": "dummy", "judge": "random", "clip": "dummy", "gligen": "none"},
        prompts={"counts": {2: 2, 3: 1}},
        methods=["stock", "box_guidance", "regions"],
        generation={"num_inference_steps": 2},
        batch_size=2,
        box_guidance={"guided_steps": 1},
        grid_images=1,
        output_dir=str(tmp_path),
    )
    return LayoutEvalConfig(**{**base, **kw})


def test_eval_runs_scores_and_resumes(tmp_path):
    from workbench.runs import resume_run, run_experiment

    run_dir = run_experiment(_cfg(tmp_path))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in (
        "stock.two_object.all_in_box",
        "box_guidance.three_object.mean_iou",
        "regions.two_object.relations",
        "box_guidance.clip_t",
        "time_ratio_vs_stock.box_guidance",
        "claims.box_guidance.two_object_gain_ok",
        "claims.box_guidance.time_ratio_ok",
    ):
        assert key in metrics, key
    ckpts = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert len(ckpts) == 3 * 2  # 3 methods x 2 batches
    stamps = {p: p.stat().st_mtime_ns for p in (run_dir / "checkpoints").iterdir()}
    (run_dir / "metrics.json").unlink()
    resume_run(run_dir, force=True)  # a completed run: force its steps to run again
    assert json.loads((run_dir / "metrics.json").read_text())["stock.two_object.images"] == 2
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # nothing regenerated
    assert (run_dir / "report.html").stat().st_size > 1000


def test_config_errors_and_examples():
    with pytest.raises(ValueError, match="unknown or no method"):
        LayoutEvalConfig(methods=["stock", "magic"])
    with pytest.raises(ValueError, match="object counts 1..4"):
        LayoutEvalConfig(prompts={"counts": {5: 3}})
    for path in sorted(EXAMPLES.glob("layout*.yaml")):
        cfg = load_config(path)
        assert isinstance(cfg, LayoutEvalConfig), path


def test_eval_scenes_sizes():
    from generators.layout.experiment import LayoutPrompts

    scenes = eval_scenes(LayoutPrompts(counts={2: 3, 4: 2}, size="large"))
    assert [len(s.objects) for s in scenes] == [2, 2, 2, 4, 4]
    assert all(
        o.size == "large" and abs((o.box[2] - o.box[0]) - 0.3) < 1e-9 for s in scenes for o in s.objects
    )


@pytest.mark.parametrize("family", ["gligen", "gcdp"])
def test_one_loader_serves_each_model_family(family, tmp_path, monkeypatch):
    from dataclasses import replace

    from generators.layout import experiment
    from workbench.runtime import Runtime

    rt = Runtime(seed=0, deterministic=False)
    monkeypatch.setitem(
        experiment._MODEL_FAMILIES,
        family,
        replace(experiment._MODEL_FAMILIES[family], folder=tmp_path / "no"),
    )
    pipe, note = experiment.load_layout_model(family, "none", rt)
    assert pipe is None and note == f"not requested (models.{family}: none)"
    pipe, note = experiment.load_layout_model(family, "auto", rt)  # nothing shipped: skipped, and why
    assert pipe is None and "train" in note
    with pytest.raises(FileNotFoundError):
        experiment.load_layout_model(family, str(tmp_path / "missing"), rt)


def test_dummy_layout_models_are_built_where_the_family_has_one():
    from generators.layout import experiment
    from generators.layout.gcdp.pipeline import GCDPPipeline
    from workbench.dummy import dummy_sd_pipeline
    from workbench.runtime import Runtime

    rt = Runtime(seed=0, deterministic=False)
    pipe, note = experiment.load_layout_model("gcdp", "dummy", rt, dummy_sd_pipeline())
    assert isinstance(pipe, GCDPPipeline) and note == "dummy"
    with pytest.raises(ValueError, match="models.gligen: dummy is not available"):
        experiment.load_layout_model("gligen", "dummy", rt)
