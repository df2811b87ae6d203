"""The watermark sweep over 2 CPU processes writes the robustness table of 1 process (timings aside)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

TINY = ["model=dummy", "clip=dummy", "judge=null", "captioner=dummy", "image_size=256",
        "generation.num_images=3", "generation.num_inference_steps=2", "photos.names=[astronaut]",
        "photos.crops_per_photo=1", "watermarks=[dwtDctSvd,gaussian_shading]",
        "watermark_options={gaussian_shading: {hw_factor: 4}}", "attacks=[jpeg]", "strengths=[0.5]",
        "batch_size=2", "examples=1"]  # fmt: skip
TIMING = ("images_per_s", "seconds")


def _args(out: Path) -> list[str]:
    sets = [part for item in TINY for part in ("--set", item)]
    return ["run", "examples/watermark_quick.yaml", *sets, "--output-dir", str(out)]


def _table(out: Path, processes: int) -> list[dict[str, str]]:
    (run,) = [p for p in out.iterdir() if p.is_dir()]  # one run folder, shared by the processes
    assert f'"num_processes": {processes}' in (run / "run.json").read_text()
    rows = list(csv.DictReader(io.StringIO((run / "robustness.csv").read_text())))
    return [{k: v for k, v in row.items() if not any(t in k for t in TIMING)} for row in rows]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_watermark_sweep_two_processes_equal_one(tmp_path, launch_cpu_processes):
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    one = subprocess.run(
        [sys.executable, "-m", "workbench.cli", *_args(tmp_path / "one")],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    launch_cpu_processes(["-m", "workbench.cli", *_args(tmp_path / "two")], timeout=600)
    a, b = _table(tmp_path / "one", 1), _table(tmp_path / "two", 2)
    assert len(a) == 2 * 2  # 2 watermarks x (no attack, jpeg)
    assert a == b
    assert {row["watermark"] for row in a} == {"dwtDctSvd", "gaussian_shading"}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_watermark_sweep_with_fewer_cells_than_processes(tmp_path, launch_cpu_processes):
    """One cell (no attack, one watermark) over 2 processes: the second has no cell and still finishes."""
    one_cell = [*TINY, "watermarks=[dwtDctSvd]", "attacks=[]"]
    sets = [part for item in one_cell for part in ("--set", item)]
    args = ["run", "examples/watermark_quick.yaml", *sets, "--output-dir", str(tmp_path)]
    launch_cpu_processes(["-m", "workbench.cli", *args], timeout=600)
    rows = _table(tmp_path, 2)
    assert [(row["watermark"], row["attack"]) for row in rows] == [("dwtDctSvd", "none")]
