"""The RunContext an experiment writes through, and the tour experiment's extension point."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from workbench.cli import main
from workbench.config import ConfigError, load_config


def test_run_context_writes_outputs_inputs_and_report(run_ctx, tmp_path):
    source = tmp_path / "input.txt"
    source.write_text("data")
    digest = run_ctx.record_input(source, name="prompts")
    assert json.loads((run_ctx.dir / "run.json").read_text())["inputs"] == {"prompts": digest}
    assert run_ctx.save_image("grid/a", torch.zeros(3, 4, 4)).is_file()
    assert run_ctx.save_tensors("latents", {"z": torch.ones(2)}).name == "latents.safetensors"
    assert json.loads(run_ctx.save_json("meta", {"k": 1}).read_text()) == {"k": 1}
    assert run_ctx.log_metrics({"a": {"b": 1.5}}, step=3) == {"a.b": 1.5}
    assert list(run_ctx.progress(range(3), desc="x")) == [0, 1, 2]
    run_ctx.report.add_text("hello report")
    run_ctx.close()
    assert "hello report" in (run_ctx.dir / "report.html").read_text()
    info = json.loads((run_ctx.dir / "run.json").read_text())
    assert info["status"] == "completed" and info["finished"]
    assert (run_ctx.dir / "metrics.csv").read_text().splitlines() == ["step,a.b", "3,1.5"]


def test_failed_experiment_records_its_status(tmp_path, capsys):
    from workbench.config import ExperimentConfig
    from workbench.experiments import register_experiment
    from workbench.runs import run_experiment

    class FailConfig(ExperimentConfig):
        pass

    @register_experiment("test-fails", config=FailConfig)
    def run(ctx, cfg):
        ctx.report.add_text("partial")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_experiment(FailConfig(experiment="test-fails", output_dir=str(tmp_path)))
    (run_dir,) = tmp_path.iterdir()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "failed" and "boom" in info["error"]
    assert "partial" in (run_dir / "report.html").read_text()


def test_tour_runs_registered_steps_and_validates_names(tmp_path, capsys):
    from workbench.experiments_builtin.tour import register_tour_step

    seen = {}

    @register_tour_step("test-step")
    def step(ctx, result):
        seen["images"] = tuple(result.images.shape)
        ctx.log_metrics({"test_step": {"n": len(result.prompts)}})

    cfg = tmp_path / "tour.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "experiment": "tour",
                "generate": {
                    "model": "dummy",
                    "prompts": ["a red circle"],
                    "images_per_prompt": 1,
                    "num_inference_steps": 2,
                },
                "score": {"clip": "dummy"},
                "steps": ["test-step"],
            }
        )
    )
    assert main(["run", str(cfg), "--output-dir", str(tmp_path / "runs")]) == 0
    assert seen["images"][0] == 1
    with pytest.raises(ConfigError, match=r"steps.*unknown tour step.*test-step"):
        load_config(cfg, ["steps=[nope]"])


def test_auto_model_choice_follows_the_toy_world():
    from workbench.loading import resolve_model
    from workbench.loading.choice import resolve_choice

    for kind in ("sd", "clip"):
        expected = "toy" if resolve_model("toy", kind=kind).available else "dummy"
        assert resolve_choice("auto", kind) == expected
    assert resolve_choice("sd15", "sd") == "sd15"


def test_runtime_close_is_a_no_op_in_one_process():
    import torch

    from workbench.runtime import Runtime

    with Runtime(seed=3, device="cpu") as rt:
        a = torch.rand(2, generator=rt.generator("x"))
    rt.close()  # twice is harmless
    assert not torch.distributed.is_initialized()
    assert torch.equal(a, torch.rand(2, generator=rt.generator("x")))  # still usable after close
