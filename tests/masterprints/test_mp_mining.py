"""The mining loop: budgets, checkpoints, stop and resume, a killed run resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from attacks.masterprints import (
    BudgetConfig,
    FileCheckpoint,
    MemoryCheckpoint,
    MultiPromptObjective,
    build_optimizer,
    build_space,
    mine,
)
from workbench.runtime import Runtime

from .tiny_models import PROMPTS

ROOT = Path(__file__).resolve().parents[2]


def _optimizer(scorer, name="adam", prompts=PROMPTS, seed=0):
    space = build_space({"name": "pixels", "param_size": 8}, image_size=32)
    cfg = {"name": name, "population": 2} if name == "adam" else {"name": name, "popsize": 6}
    return build_optimizer(
        cfg, space, MultiPromptObjective(scorer, prompts), Runtime(seed=seed, device="cpu")
    )


def test_budget_in_evaluations(clip_scorer):
    result = mine(_optimizer(clip_scorer), BudgetConfig(evaluations=9))
    assert result.evaluations == 10 and result.steps == 5  # a population of 2: a step is never cut
    assert result.stop_reason == "evaluations" and len(result.history) == 5
    bests = [p.best_loss for p in result.history]
    assert bests == sorted(bests, reverse=True) and result.best_loss == bests[-1]
    assert result.image.shape == (1, 3, 32, 32)


def test_budget_in_seconds(clip_scorer):
    result = mine(_optimizer(clip_scorer), BudgetConfig(seconds=0.5))
    assert result.stop_reason == "seconds" and result.steps >= 1 and result.wall_seconds >= 0.5


def test_stop_and_resume_equals_uninterrupted(clip_scorer, tmp_path):
    straight = mine(_optimizer(clip_scorer, "cma"), BudgetConfig(evaluations=60))
    ckpt = FileCheckpoint(tmp_path / "mining.safetensors")
    steps = []
    stopped = mine(
        _optimizer(clip_scorer, "cma"),
        BudgetConfig(evaluations=60),
        checkpoint=ckpt,
        callback=steps.append,
        should_stop=lambda: len(steps) >= 4,
    )
    assert stopped.stop_reason == "stopped" and stopped.steps == 4
    resumed = mine(_optimizer(clip_scorer, "cma"), BudgetConfig(evaluations=60), checkpoint=ckpt)
    assert (
        resumed.resumed_at == 4
        and resumed.steps == straight.steps
        and resumed.evaluations == straight.evaluations
    )
    assert resumed.best_loss == pytest.approx(straight.best_loss, abs=1e-7)
    assert torch.allclose(resumed.image, straight.image, atol=1e-6)
    assert [p.step for p in resumed.history] == list(range(1, straight.steps + 1))


def test_checkpoint_of_another_run_is_refused(clip_scorer):
    ckpt = MemoryCheckpoint()
    mine(_optimizer(clip_scorer), BudgetConfig(evaluations=4), checkpoint=ckpt)
    with pytest.raises(ValueError, match="belongs to a different mining run"):
        mine(_optimizer(clip_scorer, prompts=PROMPTS[:2]), BudgetConfig(evaluations=4), checkpoint=ckpt)
    with pytest.raises(ValueError, match="belongs to a different mining run"):
        mine(_optimizer(clip_scorer, seed=1), BudgetConfig(evaluations=4), checkpoint=ckpt)


def test_stopping_before_the_first_step_is_an_error(clip_scorer):
    with pytest.raises(RuntimeError, match="before its first step"):
        mine(_optimizer(clip_scorer), BudgetConfig(evaluations=4), should_stop=lambda: True)


def test_a_killed_run_resumes(tmp_path, clip_scorer):
    """SIGKILL a mining process mid-run, then mine again on its checkpoint: the run resumes where it
    was killed and ends where an uninterrupted run ends."""
    from .kill_target import EVALUATIONS, build

    reference = mine(build(clip_scorer), BudgetConfig(evaluations=EVALUATIONS))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    ckpt, out = tmp_path / "killed.safetensors", tmp_path / "killed.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.masterprints.kill_target", str(ckpt), str(out)], cwd=ROOT, env=env
    )
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    # kill as soon as a checkpoint exists: mining is fast and the run must still be mid-way
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    if out.exists():
        pytest.skip("the run finished before it could be killed")
    assert ckpt.exists(), "no checkpoint was written before the kill"
    resumed = mine(build(clip_scorer), BudgetConfig(evaluations=EVALUATIONS), checkpoint=FileCheckpoint(ckpt))
    assert 0 < resumed.resumed_at < reference.steps
    assert resumed.evaluations == reference.evaluations and resumed.steps == reference.steps
    assert resumed.best_loss == pytest.approx(reference.best_loss, abs=1e-6)
    assert torch.allclose(resumed.image, reference.image, atol=1e-5)
