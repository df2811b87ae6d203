"""The ``masterprints`` experiment end to end (random-weight models), its configs and its resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.config import ConfigError, load_config
from workbench.runs import resume_run, run_experiment

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("masterprints_*.yaml"))
SMALL = [
    "models.clip=dummy",
    "models.vae=dummy",
    "evaluation.real_per_prompt=4",
    "evaluation.zero_shot_per_class=2",
    "runtime.device=cpu",
]


def test_one_example_per_optimizer_and_space():
    from attacks.masterprints import OPTIMIZERS, SPACES

    configs = [load_config(p, ["attack.budget.evaluations=10"]) for p in EXAMPLES]
    assert {c.attack.optimizer.name for c in configs} == set(OPTIMIZERS.names())
    assert {c.attack.space.name for c in configs} == set(SPACES.names())
    assert all(len(c.attack.prompts) == 25 for c in configs)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_need_a_budget_from_the_command_line(path):
    with pytest.raises(ConfigError, match="--set attack.budget.evaluations"):
        load_config(path)


def test_prompts_from_a_file_and_bad_overrides(tmp_path):
    targets = tmp_path / "targets.txt"
    targets.write_text("a red circle\na blue star\n")
    cfg = load_config(EXAMPLES[0], ["attack.budget.seconds=5", f"attack.prompts={targets}"])
    assert cfg.attack.prompts == str(targets)
    with pytest.raises(ConfigError, match="attack.budget"):
        load_config(EXAMPLES[0], ["attack.budget.evaluations=0"])
    with pytest.raises(ConfigError, match="attack.prompts"):
        load_config(EXAMPLES[0], ["attack.budget.evaluations=5", "attack.prompts=[]"])


@pytest.mark.parametrize(
    "name", ["masterprints_adam_latent", "masterprints_cma_latent", "masterprints_pgd_linf"]
)
def test_run_writes_the_promised_metrics(name, tmp_path):
    cfg = load_config(
        ROOT / "examples" / f"{name}.yaml",
        [*SMALL, "attack.budget.evaluations=16", "models.transfer_clip=dummy"],
    )
    run_dir = run_experiment(cfg, output_dir=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in (
        "fooling_accuracy",
        "heldout_fooling_accuracy",
        "transfer_fooling_accuracy",
        "shifted_fooling_accuracy",
        "embedding_bound_outrank_fraction",
        "evaluations",
        "wall_seconds",
    ):
        assert key in metrics, key
        assert isinstance(metrics[key], (int, float))
    assert 0 <= metrics["fooling_accuracy"] <= 1 and metrics["evaluations"] >= 16
    per_prompt = {k.split(".")[1] for k in metrics if k.startswith("per_prompt.")}
    assert per_prompt == set(cfg.attack.prompts)
    row = {k.split(".")[-1]: v for k, v in metrics.items() if k.startswith("per_prompt.a red circle.")}
    assert set(row) == {"master_score", "best_real_score", "fooling_accuracy"}
    assert (run_dir / "outputs" / "master.png").is_file() and (run_dir / "report.html").is_file()
    curve = json.loads((run_dir / "outputs" / "loss_curve.json").read_text())
    assert curve["evaluations"][-1] == metrics["evaluations"]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"


def test_detector_evaluation_and_resume(tmp_path):
    overrides = [
        *SMALL,
        "attack.budget.evaluations=6",
        "evaluation.shift=null",
        "evaluation.detector={train_set: {images: 8, steps: 3, batch: 8, prompts_per_image: 3}, test_set: {images: 8, steps: 3, batch: 8, prompts_per_image: 3}, real_train: 16, real_test: 100, detector: {epochs: 30}}",
    ]
    cfg = load_config(ROOT / "examples" / "masterprints_adam_pixels.yaml", overrides)
    run_dir = run_experiment(cfg, output_dir=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0 <= metrics["detector_tpr_at_1pct_fpr"] <= 1 and "shifted_fooling_accuracy" not in metrics
    assert 0 <= metrics["sanitised_retrieval_master_top1"] <= metrics["retrieval_master_top1"] <= 1

    again = resume_run(run_dir, force=True)  # the mining state is in the checkpoint: nothing is mined twice
    assert again == run_dir
    log = (run_dir / "run.log").read_text()
    assert "resumed mining at step" in log
    assert json.loads((run_dir / "metrics.json").read_text())["evaluations"] == metrics["evaluations"]


@pytest.mark.slow
def test_restarts_keep_the_best_and_resume(tmp_path):
    overrides = [*SMALL, "attack.budget.evaluations=8", "evaluation.shift=null", "attack.restarts=2"]
    cfg = load_config(ROOT / "examples" / "masterprints_cma_pixels.yaml", overrides)
    run_dir = run_experiment(cfg, output_dir=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    losses = [metrics["restart_best_loss.0"], metrics["restart_best_loss.1"]]
    assert metrics["restarts"] == 2 and metrics["best_loss"] == min(losses) and losses[0] != losses[1]
    assert metrics["evaluations"] == 2 * 32  # a whole generation of 32 per restart
    resume_run(run_dir, force=True)  # both restarts' states are checkpointed: nothing is mined twice
    assert json.loads((run_dir / "metrics.json").read_text())["best_loss"] == metrics["best_loss"]
