"""Mining restarts: independent (keyed by restart), the best one kept, and the same image on 1 and 2
processes (``accelerate launch`` with the CPU ``gloo`` backend, as ``tests/metrics/test_metrics_distributed.py``)."""

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

SCRIPT = Path(__file__).with_name("sharded_restarts_script.py")
ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("sharded_restarts_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_restarts_differ_and_the_best_is_kept(tmp_path):
    _script().main(str(tmp_path / "one.json"))
    a = json.loads((tmp_path / "one.json").read_text())
    assert len(set(a["losses"])) == 3  # three independent runs
    assert a["best_restart"] == min(range(3), key=lambda i: a["losses"][i])
    assert a["evaluations"] == 3 * 24


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_two_processes_mine_the_same_image_as_one(tmp_path):
    launcher = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or shutil.which("accelerate")
    assert launcher is not None, "accelerate's launcher is installed with the project (make setup)"
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    _script().main(str(one))
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", ACCELERATE_USE_CPU="true")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # a port taken between choosing and binding it, or gloo's teardown race at exit on a loaded machine: retried
    retried = ("address already in use", "terminate called without an active exception")
    for _attempt in range(3):
        launch = [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
                  "--dynamo_backend", "no", "--main_process_port", str(_free_port()), str(SCRIPT), str(two)]  # fmt: skip
        proc = subprocess.run(launch, env=env, timeout=150, capture_output=True, text=True)
        if proc.returncode == 0 or not any(m in proc.stderr.lower() for m in retried):
            break
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert a["num_processes"] == 1 and b["num_processes"] == 2
    assert a["losses"] == b["losses"] and a["best_restart"] == b["best_restart"]
    assert a["best_params"] == b["best_params"]
