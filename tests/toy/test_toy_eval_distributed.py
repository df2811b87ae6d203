"""``workbench toy eval`` over 2 CPU processes gives the numbers of 1 process (timings aside)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ARGS = ["toy", "eval", "--json", "--device", "cpu", "--n", "4", "--batch", "2", "--sd-steps", "4",
        "--retrieval-n", "8"]  # fmt: skip


def _result(stdout: str) -> dict:
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_toy_eval_two_processes_equal_one(launch_cpu_processes):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    one = subprocess.run(
        [sys.executable, "-m", "workbench.cli", *ARGS], env=env, capture_output=True, text=True, timeout=600
    )
    assert one.returncode == 0, one.stderr[-3000:]
    two = launch_cpu_processes(["-m", "workbench.cli", *ARGS], timeout=600)
    a, b = _result(one.stdout), _result(two.stdout)
    assert b.pop("num_processes") == 2 and "num_processes" not in a
    a["sd"].pop("seconds_per_image")
    b["sd"].pop("seconds_per_image")
    assert set(a) == {"seed", "n", "judge", "clip", "vae", "sd", "captioner"}
    assert a == b  # exactly: every batch is computed as in one process
