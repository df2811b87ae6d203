"""Mining restarts: independent (keyed by restart), the best one kept, and the same image on 1 and 2
processes (``accelerate launch`` with the CPU ``gloo`` backend, as ``tests/metrics/test_metrics_distributed.py``)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("sharded_restarts_script.py")


def _script():
    spec = importlib.util.spec_from_file_location("sharded_restarts_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_restarts_differ_and_the_best_is_kept(tmp_path):
    _script().main(str(tmp_path / "one.json"))
    a = json.loads((tmp_path / "one.json").read_text())
    assert len(set(a["losses"])) == 3  # three independent runs
    assert a["best_restart"] == min(range(3), key=lambda i: a["losses"][i])
    assert a["evaluations"] == 3 * 24


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_two_processes_mine_the_same_image_as_one(tmp_path, launch_cpu_processes):
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    _script().main(str(one))
    launch_cpu_processes([str(SCRIPT), str(two)], timeout=150)  # retries the machine's failures (conftest)
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert a["num_processes"] == 1 and b["num_processes"] == 2
    assert a["losses"] == b["losses"] and a["best_restart"] == b["best_restart"]
    assert a["best_params"] == b["best_params"]
