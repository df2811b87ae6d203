"""Run folders end to end: the smoke experiment through the CLI, determinism, SIGKILL + --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from workbench.cli import main
from workbench.config import validate_config

REPO = Path(__file__).resolve().parents[2]


def smoke_config(tmp_path: Path, **generate) -> Path:
    data = yaml.safe_load((REPO / "examples" / "smoke.yaml").read_text())
    data["generate"].update(generate)
    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run_cli(capsys, *argv: str) -> Path:
    assert main(["run", *argv]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    return Path(lines[-1])


def outputs_of(run_dir: Path) -> dict[str, bytes]:
    """Every output file and the metrics, by relative path."""
    files = {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted((run_dir / "outputs").rglob("*"))
        if p.is_file()
    }
    for name in ("metrics.json", "metrics.csv"):
        files[name] = (run_dir / name).read_bytes()
    return files


def test_smoke_run_makes_a_complete_folder(tmp_path, capsys):
    run_dir = run_cli(capsys, str(smoke_config(tmp_path)), "--output-dir", str(tmp_path / "runs"))
    assert run_dir.parent == tmp_path / "runs" and run_dir.is_dir()
    for name in (
        "config.yaml",
        "run.json",
        "run.log",
        "metrics.json",
        "metrics.csv",
        "report.html",
        "report/sections.json",
    ):
        assert (run_dir / name).is_file(), name
    assert len(list((run_dir / "outputs" / "images").glob("*.png"))) == 6
    assert len(list((run_dir / "checkpoints").glob("*.safetensors"))) == 6
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "completed" and info["seed"] == 0
    assert info["versions"]["torch"] and info["versions"]["diffusers"] and "revision" in info["git"]
    assert info["started"] <= info["finished"] and info["hostname"]
    assert len(info["inputs"]["config file"]) == 64
    cfg = validate_config(yaml.safe_load((run_dir / "config.yaml").read_text()))
    assert cfg.generate.images_per_prompt == 2 and cfg.runtime.precision == "fp32"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["images"] == 6 and 0 <= metrics["clip_score.mean"] <= 100 and 0 < metrics["pixel_mean"] < 1
    header, row = (run_dir / "metrics.csv").read_text().splitlines()
    assert header.split(",") == list(metrics) and float(row.split(",")[1]) == pytest.approx(
        metrics["pixel_mean"]
    )
    page = (run_dir / "report.html").read_text()
    assert page.count("<img") >= 7 and "Package versions" in page and "clip_score.mean" in page
    assert "created run folder" in (run_dir / "run.log").read_text()
    assert not list(run_dir.rglob("*.tmp"))

    # `workbench report` rebuilds the same page from the saved sections.
    (run_dir / "report.html").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert capsys.readouterr().out.strip().endswith("report.html")
    assert (run_dir / "report.html").read_text() == page


def test_same_config_and_seed_are_bit_identical(tmp_path, capsys):
    cfg = str(smoke_config(tmp_path, batch_size=2))
    a = run_cli(capsys, cfg, "--output-dir", str(tmp_path / "a"))
    b = run_cli(capsys, cfg, "--output-dir", str(tmp_path / "b"))
    c = run_cli(capsys, cfg, "--output-dir", str(tmp_path / "c"), "--set", "seed=1")
    assert outputs_of(a) == outputs_of(b)
    assert outputs_of(a)["outputs/images/0000.png"] != outputs_of(c)["outputs/images/0000.png"]


def test_overrides_reach_the_run_and_errors_name_the_field(tmp_path, capsys):
    cfg = str(smoke_config(tmp_path))
    run_dir = run_cli(
        capsys,
        cfg,
        "--output-dir",
        str(tmp_path / "r"),
        "--set",
        "generate.prompts=[a cat]",
        "--set",
        "generate.images_per_prompt=1",
    )
    assert len(list((run_dir / "outputs" / "images").glob("*.png"))) == 1
    assert main(["run", cfg, "--set", "generate.guidance=3"]) == 2
    assert "generate.guidance" in capsys.readouterr().err


def _cli(*argv: str) -> subprocess.Popen:
    """``workbench ARGV`` in a fresh process with this process's torch thread count (same kernels, same bits)."""
    import torch

    env = dict(
        os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1"
    )
    return subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", *argv],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, capsys):
    total, kill_after = 20, 6
    cfg = str(
        smoke_config(tmp_path, prompts=["a red circle", "a blue square"], images_per_prompt=10, batch_size=1)
    )

    # 1. Kill a run with SIGKILL once some of its checkpoints exist.
    proc = _cli("run", cfg, "--output-dir", str(tmp_path / "killed"))
    deadline = time.monotonic() + 180
    run_dir = None
    while time.monotonic() < deadline and proc.poll() is None:
        dirs = list((tmp_path / "killed").glob("*/checkpoints"))
        if dirs and len(list(dirs[0].glob("*.safetensors"))) >= kill_after:
            run_dir = dirs[0].parent
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait(timeout=30)
    assert run_dir is not None and proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]
    done = len(list((run_dir / "checkpoints").glob("*.safetensors")))
    assert kill_after <= done < total
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    assert not (run_dir / "report.html").exists()
    assert main(["report", str(run_dir)]) == 0  # a report of what is there, even for a killed run
    assert "saved no report sections" in (run_dir / "report.html").read_text()
    from workbench.runs import Checkpoint

    ckpt = Checkpoint(run_dir / "checkpoints")
    assert all(ckpt.load(k)[0]["images"].shape == (1, 3, 32, 32) for k in ckpt.keys())  # none half-written
    proc.stdout.close()
    proc.stderr.close()

    # 2. Resume it; 3. run the same config without interruption.
    assert run_cli(capsys, "--resume", str(run_dir)) == run_dir
    full_dir = run_cli(capsys, cfg, "--output-dir", str(tmp_path / "full"))

    assert outputs_of(run_dir) == outputs_of(full_dir)
    assert len(outputs_of(run_dir)) == total + 2
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "completed" and len(info["resumed"]) == 1
    assert not list(run_dir.rglob("*.tmp")) and not list(full_dir.rglob("*.tmp"))


def test_resume_refuses_a_new_config_and_a_non_run_folder(tmp_path, capsys):
    assert main(["run", str(smoke_config(tmp_path)), "--resume", str(tmp_path)]) == 2
    assert "--resume continues a run" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err
