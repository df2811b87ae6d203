"""A knowledge base built over 2 CPU processes holds the same bytes as one built by 1 process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _args(folder: Path) -> list[str]:
    # 2 views of every entity, chunks of 8 embedded in batches of 3: both processes embed in every chunk
    return ["kb", "build", str(folder), "--toy-entities", "--views", "2", "--clip", "dummy", "--device", "cpu",
            "--chunk-size", "8", "--embed-batch", "3"]  # fmt: skip


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kb_build_two_processes_equal_one(tmp_path, launch_cpu_processes):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    one = subprocess.run(
        [sys.executable, "-m", "workbench.cli", *_args(tmp_path / "one")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    launch_cpu_processes(["-m", "workbench.cli", *_args(tmp_path / "two")])
    a, b = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert any(name.startswith("images/") for name in a) and "chunks/000001.safetensors" in a
    assert sorted(a) == sorted(b)
    assert [name for name in a if a[name] != b[name]] == []
