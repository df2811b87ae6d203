"""Every experiment family over 2 CPU processes writes what 1 process writes (timings aside).

One run folder is shared by the processes (its name chosen by the main process), and its metrics and
outputs equal those of a one-process run: the generation job (also with fewer items than processes, so
one process has nothing to do), layout, multi-concept, retrieval and master-print mining (restarts
shared out). The watermark sweep has its own test (``tests/watermarks/test_wm_distributed.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMING = ("second", "per_s", "time_ratio", "elapsed", "duration")

FAMILIES: dict[str, tuple[str, list[str]]] = {
    "generation": ("examples/smoke.yaml", []),
    "generation-one-item": ("examples/smoke.yaml", ["generate.prompts=[a red circle]", "generate.images_per_prompt=1"]),
    "layout": ("examples/layout_smoke.yaml", []),
    "multiconcept": ("examples/multiconcept_smoke.yaml", []),
    "retrieval": ("examples/retrieval_smoke.yaml", []),
    "masterprints": (
        "examples/masterprints_cma_pixels.yaml",
        ["models.clip=dummy", "models.vae=dummy", "evaluation.real_per_prompt=4", "evaluation.zero_shot_per_class=2",
         "attack.budget.evaluations=16", "attack.restarts=3", "evaluation.shift=null"],
    ),
}  # fmt: skip


def _args(config: str, sets: list[str], out: Path) -> list[str]:
    return ["run", config, *[part for s in sets for part in ("--set", s)], "--output-dir", str(out)]


def _untimed(obj: Any) -> Any:
    """``obj`` without the keys that hold wall-clock timings."""
    if isinstance(obj, dict):
        return {k: _untimed(v) for k, v in obj.items() if not any(t in str(k) for t in TIMING)}
    if isinstance(obj, list):
        return [_untimed(v) for v in obj]
    return obj


def run_folder(out: Path, processes: int) -> Path:
    """The single run folder under ``out``, checked to record ``processes`` processes."""
    (run,) = [p for p in out.iterdir() if p.is_dir()]  # one folder, shared by the processes
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "completed"
    assert info["runtime"]["num_processes"] == processes
    return run


def contents(run: Path) -> dict[str, Any]:
    """What a run computed: ``metrics.json`` and every output (JSON parsed, other files hashed),
    timings left out."""
    found: dict[str, Any] = {"metrics.json": _untimed(json.loads((run / "metrics.json").read_text()))}
    for path in sorted((run / "outputs").rglob("*")):
        if path.is_file():
            name = str(path.relative_to(run))
            if path.suffix == ".json":
                found[name] = _untimed(json.loads(path.read_text()))
            else:
                found[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def run_one_process(args: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_two_processes_equal_one(family, tmp_path, launch_cpu_processes):
    config, sets = FAMILIES[family]
    run_one_process(_args(config, sets, tmp_path / "one"))
    launch_cpu_processes(["-m", "workbench.cli", *_args(config, sets, tmp_path / "two")], timeout=600)
    one, two = contents(run_folder(tmp_path / "one", 1)), contents(run_folder(tmp_path / "two", 2))
    assert len(one) > 1  # metrics and at least one output
    assert sorted(one) == sorted(two)
    for name in one:
        assert one[name] == two[name], name


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_plain_launch_on_a_cpu_machine_forms_one_group(tmp_path, launch_cpu_processes):
    """``accelerate launch --multi_gpu --num_processes 2`` with nothing else set (no ``ACCELERATE_USE_CPU``,
    no ``runtime.device``) on a machine without an accelerator: one run over 2 processes, not two runs."""
    import torch

    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has an accelerator: a plain launch uses it")
    launch_cpu_processes(["-m", "workbench.cli", *_args("examples/smoke.yaml", [], tmp_path)], cpu_flag=False)
    run = run_folder(tmp_path, 2)
    assert len(list((run / "outputs" / "images").glob("*.png"))) == 6
