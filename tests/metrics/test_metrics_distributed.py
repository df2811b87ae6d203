"""Sharded over 2 CPU processes, metrics equal 1 process.

``accelerate launch --cpu --num_processes 2`` starts several CPU processes only through ``mpirun``
(without an MPI hostfile it starts one), so the test launches with ``--multi_gpu`` (torch's
``torch.distributed.run`` launcher) and the script's ``Runtime(device="cpu")`` makes accelerate use
the CPU ``gloo`` backend: 2 CPU processes exchanging metric states as under a GPU launch.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("sharded_metrics_script.py")
_RETRIED = ("address already in use", "terminate called without an active exception")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", ACCELERATE_USE_CPU="true")
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(330)
def test_two_processes_equal_one(tmp_path):
    # the launcher beside this interpreter (the project's virtual environment), else on PATH
    launcher = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or shutil.which("accelerate")
    assert launcher is not None, "accelerate's launcher is installed with the project (make setup)"
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    spec = importlib.util.spec_from_file_location("sharded_metrics_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(str(one))  # one process: this one
    # Two launch failures are the machine's, not the metrics': a free port taken between choosing and binding
    # it, and gloo's teardown race at exit on a loaded machine ("terminate called without an active
    # exception" after the results are computed). Each gets more tries; any other failure ends the loop.
    for _attempt in range(3):
        launch = [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
                  "--dynamo_backend", "no", "--main_process_port", str(_free_port()), str(SCRIPT), str(two)]  # fmt: skip
        proc = subprocess.run(launch, env=_env(), timeout=100, capture_output=True, text=True)
        stderr = proc.stderr.lower()
        if proc.returncode == 0 or not any(m in stderr for m in _RETRIED):
            break
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert a["num_processes"] == 1 and b["num_processes"] == 2
    assert (
        a["ssim_per_item"] == pytest.approx(b["ssim_per_item"], abs=1e-12) and len(a["ssim_per_item"]) == 11
    )
    for key in ("ssim", "psnr", "fd", "kid", "bits", "auc"):
        assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12), key
