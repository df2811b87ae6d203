"""Sharded over 2 CPU processes, metrics equal 1 process.

``accelerate launch --cpu --num_processes 2`` starts several CPU processes only through ``mpirun``
(without an MPI hostfile it starts one), so the test launches with ``--multi_gpu`` (torch's
``torch.distributed.run`` launcher) and the script's ``Runtime(device="cpu")`` makes accelerate use
the CPU ``gloo`` backend: 2 CPU processes exchanging metric states as under a GPU launch.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("sharded_metrics_script.py")


@pytest.mark.timeout(330)
def test_two_processes_equal_one(tmp_path, launch_cpu_processes):
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    spec = importlib.util.spec_from_file_location("sharded_metrics_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(str(one))  # one process: this one
    launch_cpu_processes([str(SCRIPT), str(two)], timeout=100)  # retries the machine's failures (conftest)
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert a["num_processes"] == 1 and b["num_processes"] == 2
    assert (
        a["ssim_per_item"] == pytest.approx(b["ssim_per_item"], abs=1e-12) and len(a["ssim_per_item"]) == 11
    )
    for key in ("ssim", "psnr", "fd", "kid", "bits", "auc"):
        assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12), key
