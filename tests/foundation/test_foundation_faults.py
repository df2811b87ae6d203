"""Run folders under faults: checksummed checkpoints and outputs, the folder lock, SIGTERM, resuming a
completed run, and one kill / corrupt / concurrent-resume drill per experiment family."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from workbench.cli import main
from workbench.runs import Checkpoint, CorruptCheckpointError, RunLock
from workbench.runs.lock import LOCK_FILE, read_holder

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "examples" / "smoke.yaml")
CPU = "runtime.device=cpu"
VOLATILE = re.compile(r"seconds|time_ratio|per_s\b")  # timings: equal only by chance between runs


# ---------------------------------------------------------------------------------------------- helpers
def smoke_args(images: int = 3, batch_size: int = 1) -> list[str]:
    """``run examples/smoke.yaml`` overrides for ``2 * images`` images, one checkpoint per batch."""
    return [
        SMOKE,
        "--set",
        "generate.prompts=[a red circle, a blue square]",
        "--set",
        f"generate.images_per_prompt={images}",
        "--set",
        f"generate.batch_size={batch_size}",
        "--set",
        CPU,
    ]


def run_cli(capsys, *argv: str) -> Path:
    """``workbench run ARGV`` in this process; returns the run folder it printed last."""
    assert main(["run", *argv]) == 0
    return Path(capsys.readouterr().out.strip().splitlines()[-1])


def refusal(capsys, *argv: str) -> str:
    """``workbench run ARGV`` must refuse: exit 2 and one line on stderr; returns that line."""
    assert main(["run", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def spawn(tmp_path: Path, name: str, *argv: str) -> subprocess.Popen:
    """``workbench ARGV`` in a fresh process (this process's torch threads: same kernels, same bits);
    its stdout and stderr go to ``tmp_path/<name>.out`` / ``.err``."""
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(torch.get_num_threads()),
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        TRANSFORMERS_VERBOSITY="error",  # no import-time notices of optional backends on stderr
    )
    return subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", *argv],
        env=env,
        cwd=REPO,
        stdout=open(tmp_path / f"{name}.out", "w"),  # noqa: SIM115 - the child owns it
        stderr=open(tmp_path / f"{name}.err", "w"),  # noqa: SIM115
    )


def wait_until(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float = 240) -> None:
    """Poll ``ready()`` every 2 ms while ``proc`` runs; fail if it ends or times out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if ready():
            return
        time.sleep(0.002)
    proc.kill()
    raise AssertionError(f"the process ended (rc {proc.returncode}) or timed out before it was ready")


def the_run_dir(root: Path) -> Path | None:
    dirs = [d for d in root.glob("*") if (d / "run.json").is_file()]
    return dirs[0] if dirs else None


def checkpoint_files(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "checkpoints").glob("*.safetensors"))


def has_checkpoints(root: Path, n: int) -> Callable[[], bool]:
    """Whether the run folder under ``root`` has at least ``n`` checkpoint files."""

    def ready() -> bool:
        run_dir = the_run_dir(root)
        return run_dir is not None and len(checkpoint_files(run_dir)) >= n

    return ready


def flip_tensor_byte(path: Path) -> None:
    """Flip one byte in the middle of a safetensors file's tensor data."""
    data = bytearray(path.read_bytes())
    start = 8 + struct.unpack("<Q", data[:8])[0]
    data[start + (len(data) - start) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def drop_volatile(name: str, data: bytes) -> object:
    """A file's content without its timing fields (JSON keys, CSV columns); other files as bytes."""
    if name.endswith(".json"):

        def clean(obj):
            if isinstance(obj, dict):
                return {k: clean(v) for k, v in obj.items() if not VOLATILE.search(str(k))}
            return [clean(v) for v in obj] if isinstance(obj, list) else obj

        return clean(json.loads(data))
    if name.endswith(".csv"):
        rows = list(csv.DictReader(io.StringIO(data.decode())))
        return [{k: v for k, v in row.items() if not VOLATILE.search(k)} for row in rows]
    return data


def results_of(run_dir: Path) -> dict[str, object]:
    """Every output and top-level metrics / table file, timings left out."""
    files = [p for p in sorted((run_dir / "outputs").rglob("*")) if p.is_file()]
    files += [p for p in sorted(run_dir.glob("*.csv")) + [run_dir / "metrics.json"] if p.is_file()]
    return {str(p.relative_to(run_dir)): drop_volatile(p.name, p.read_bytes()) for p in files}


def mtimes(run_dir: Path) -> dict[str, int]:
    return {str(p.relative_to(run_dir)): p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}


def status_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


# ---------------------------------------------------------------------------------------------- checksums
def test_checkpoint_checksum_catches_flipped_truncated_and_unchecked_files(tmp_path, caplog):
    from safetensors.torch import save_file

    ckpt = Checkpoint(tmp_path)
    path = ckpt.path("item/0")

    def corrupt_then_check(damage: Callable[[], None], reason: str) -> None:
        ckpt.save("item/0", {"x": torch.arange(64.0).view(8, 8)}, {"prompt": "a cat"})
        assert ckpt.done("item/0")
        damage()
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert not ckpt.done("item/0")
        assert not path.exists()  # discarded: never used
        (line,) = [r.getMessage() for r in caplog.records]
        assert str(path) in line and reason in line, line

    corrupt_then_check(lambda: flip_tensor_byte(path), "do not match its checksum")
    corrupt_then_check(lambda: path.write_bytes(path.read_bytes().replace(b"a cat", b"a bat")), "checksum")
    corrupt_then_check(lambda: path.write_bytes(path.read_bytes()[:-100]), "truncated")
    corrupt_then_check(lambda: path.write_bytes(path.read_bytes()[:20]), "truncated")
    corrupt_then_check(lambda: save_file({"x": torch.ones(2)}, str(path)), "no checksum")

    ckpt.save("item/0", {"x": torch.ones(3)}, {"n": 1})
    flip_tensor_byte(path)
    with pytest.raises(CorruptCheckpointError, match=re.escape(str(path))):
        ckpt.load("item/0")
    assert not path.exists() and ckpt.keys() == []


def test_truncated_checkpoint_is_named_discarded_and_redone(tmp_path, capsys):
    run_dir = run_cli(capsys, *smoke_args(), "--output-dir", str(tmp_path))
    before = results_of(run_dir)
    victim = checkpoint_files(run_dir)[2]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    info = status_of(run_dir)
    (run_dir / "run.json").write_text(json.dumps({**info, "status": "running"}))  # as a SIGKILL leaves it

    assert run_cli(capsys, "--resume", str(run_dir)) == run_dir
    log = (run_dir / "run.log").read_text()
    named = [line for line in log.splitlines() if str(victim) in line]
    assert len(named) == 1 and "truncated" in named[0] and "redone" in named[0], named
    assert "Traceback" not in log
    assert Checkpoint(run_dir / "checkpoints").done(victim.name[: -len(".safetensors")].replace("%2F", "/"))
    assert results_of(run_dir) == before and status_of(run_dir)["status"] == "completed"


def test_a_corrupt_output_of_a_completed_run_is_named_and_written_again(tmp_path, capsys):
    run_dir = run_cli(capsys, *smoke_args(), "--output-dir", str(tmp_path))
    before = results_of(run_dir)
    image = run_dir / "outputs" / "images" / "0001.png"
    image.write_bytes(image.read_bytes()[:-1] + b"\0")

    assert run_cli(capsys, "--resume", str(run_dir)) == run_dir
    assert results_of(run_dir) == before
    named = [line for line in (run_dir / "run.log").read_text().splitlines() if str(image) in line]
    assert len(named) == 1 and "failed its check" in named[0], named
    assert status_of(run_dir)["status"] == "completed" and len(status_of(run_dir)["resumed"]) == 1


# ---------------------------------------------------------------------------------------------- lock
def hold_lock(run_dir: Path) -> subprocess.Popen:
    """A process that takes ``run_dir``'s lock and sleeps (returns once it holds the lock)."""
    code = "import sys, time; from workbench.runs import RunLock; RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(300)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(run_dir)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_lock_refuses_a_second_process_and_a_stale_lock_is_taken_over(tmp_path, capsys, caplog):
    run_dir = run_cli(capsys, *smoke_args(), "--output-dir", str(tmp_path))
    (run_dir / "run.json").write_text(json.dumps({**status_of(run_dir), "status": "running"}))
    holder = hold_lock(run_dir)
    try:
        before = mtimes(run_dir)
        line = refusal(capsys, "--resume", str(run_dir))
        assert f"in use by PID {holder.pid}" in line and str(run_dir) in line
        assert mtimes(run_dir) == before  # the refused process wrote nothing
        with pytest.raises(Exception, match=f"PID {holder.pid}"):
            RunLock(run_dir).acquire()
    finally:
        holder.kill()
        holder.wait()
    assert read_holder(run_dir)["pid"] == holder.pid  # a killed holder leaves its record behind

    with caplog.at_level(logging.WARNING):
        assert run_cli(capsys, "--resume", str(run_dir)) == run_dir
    assert f"took over the stale lock of {run_dir}: PID {holder.pid}" in caplog.text
    assert status_of(run_dir)["status"] == "completed" and not (run_dir / LOCK_FILE).exists()


def test_lock_is_reentrant_and_released_by_close(tmp_path):
    lock = RunLock(tmp_path)
    with lock:
        assert lock.acquire() is lock and read_holder(tmp_path)["pid"] == os.getpid()
    assert not (tmp_path / LOCK_FILE).exists() and not lock.held
    RunLock(tmp_path).acquire().release()  # free again


def test_refusals_are_one_line_on_stderr_without_a_traceback(tmp_path, capsys):
    run_dir = run_cli(capsys, *smoke_args(images=1), "--output-dir", str(tmp_path / "a"))
    broken = Path(shutil.copytree(run_dir, tmp_path / "broken"))
    (broken / "run.json").write_text('{"status": "runn')
    holder = hold_lock(run_dir)
    try:
        assert "--force goes with --resume" in refusal(capsys, SMOKE, "--force")
        cases = {
            "locked": (("run", "--resume", str(run_dir)), f"in use by PID {holder.pid}"),
            "run-json": (("run", "--resume", str(broken)), "run.json is not valid JSON"),
        }
        procs = {name: spawn(tmp_path, name, *argv) for name, (argv, _) in cases.items()}
        for name, (_, expected) in cases.items():
            assert procs[name].wait(timeout=120) == 2, name
            err = (tmp_path / f"{name}.err").read_text().strip().splitlines()
            assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], (name, err)
    finally:
        holder.kill()
        holder.wait()


# ---------------------------------------------------------------------------------------------- signals, completed runs
def test_sigterm_ends_a_run_as_interrupted(tmp_path, capsys):
    proc = spawn(tmp_path, "run", "run", *smoke_args(images=12), "--output-dir", str(tmp_path / "runs"))
    wait_until(proc, has_checkpoints(tmp_path / "runs", 2))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 130
    run_dir = the_run_dir(tmp_path / "runs")
    info = status_of(run_dir)
    assert info["status"] == "interrupted" and info["finished"]
    assert len(checkpoint_files(run_dir)) < 24 and (run_dir / "report.html").is_file()
    assert not (run_dir / LOCK_FILE).exists() and not list(run_dir.rglob("*.tmp"))
    err = (tmp_path / "run.err").read_text()
    assert "stopped by SIGTERM" in err and "Traceback" not in err and err.strip().endswith("interrupted")

    assert run_cli(capsys, "--resume", str(run_dir)) == run_dir
    assert status_of(run_dir)["status"] == "completed"


def test_resume_of_a_completed_run_does_nothing_unless_forced(tmp_path, capsys, caplog):
    run_dir = run_cli(capsys, *smoke_args(), "--output-dir", str(tmp_path))
    before, results = mtimes(run_dir), results_of(run_dir)
    with caplog.at_level(logging.INFO):
        assert run_cli(capsys, "--resume", str(run_dir)) == run_dir
    assert f"run folder {run_dir} is complete; nothing to do" in caplog.text
    assert mtimes(run_dir) == before  # not one file touched, none added

    assert run_cli(capsys, "--resume", str(run_dir), "--force") == run_dir
    info = status_of(run_dir)
    assert info["status"] == "completed" and len(info["resumed"]) == 1
    assert results_of(run_dir) == results
    after = mtimes(run_dir)
    assert all(after[k] == t for k, t in before.items() if k.startswith("checkpoints/"))  # none redone
    assert after["run.json"] != before["run.json"]


# ---------------------------------------------------------------------------------------------- family drills
@dataclass
class Family:
    """The smallest run of one experiment family, and when it is far enough along to kill."""

    config: str
    overrides: list[str]
    kill_after: int  # checkpoint files that must exist before the SIGKILL
    total: int | None = None  # checkpoint files of a finished run, when known
    resumed_marker: str | None = None  # a log line of a resume that continued one rewritten checkpoint

    def args(self) -> list[str]:
        sets = [a for o in [*self.overrides, CPU] for a in ("--set", o)]
        return [str(REPO / "examples" / self.config), *sets]


FAMILIES = {
    "generation": Family(
        "smoke.yaml",
        ["generate.prompts=[a red circle, a blue square]", "generate.images_per_prompt=8"],
        kill_after=4,
        total=16,
    ),
    "layout": Family(
        "layout_smoke.yaml",
        ["prompts.counts={2: 3, 3: 2}", "methods=[stock, regions]", "batch_size=1", "grid_images=1"],
        kill_after=3,
        total=10,
    ),
    "multiconcept": Family(
        "multiconcept_smoke.yaml",
        [
            "benchmark.pairs=2",
            "benchmark.triples=1",
            "benchmark.images_per_composition=1",
            "score.grid_compositions=1",
        ],
        kill_after=3,
        total=9,
    ),
    "watermark": Family(
        "watermark_quick.yaml",
        [
            "model=dummy",
            "clip=dummy",
            "judge=null",
            "captioner=dummy",
            "watermarks=[dwtDct]",
            "attacks=[jpeg, blur]",
            "strengths=[0.2, 0.4, 0.6, 0.8]",
            "generation.num_images=2",
            "generation.num_inference_steps=2",
            "photos.names=[astronaut]",
            "photos.crops_per_photo=1",
            "batch_size=2",
        ],
        kill_after=3,
        total=11,
    ),
    "masterprints": Family(
        "masterprints_cma_pixels.yaml",
        [
            "models.clip=dummy",
            "models.vae=dummy",
            "evaluation.real_per_prompt=4",
            "evaluation.zero_shot_per_class=2",
            "evaluation.shift=null",
            "attack.budget.evaluations=2000",
            "attack.checkpoint_every=0.001",
        ],
        kill_after=1,
        resumed_marker="resumed mining at step",
    ),
    "retrieval": Family(
        "retrieval_smoke.yaml",
        ["retrieval.modes=[reference]", "guidance.ratio_sweep=[0.0, 1.0]", "bench.entities_per_bucket=2"],
        kill_after=1,
    ),
}
SLOW = {"watermark", "masterprints", "multiconcept", "retrieval"}


@pytest.mark.parametrize(
    "family",
    [pytest.param(name, marks=[pytest.mark.slow] if name in SLOW else []) for name in FAMILIES],
)
def test_family_survives_kill_corruption_and_a_second_resume(family, tmp_path, capsys, caplog):
    """SIGKILL mid-run, a first resume in another process (a second one, meanwhile, is refused with the
    first's PID) completes the run byte-identical to an uninterrupted one; then a flipped byte in a
    checkpoint is found, named, and its item redone with the same results."""
    spec = FAMILIES[family]
    full = results_of(run_cli(capsys, *spec.args(), "--output-dir", str(tmp_path / "full")))

    # 1. SIGKILL a run once `kill_after` checkpoints exist.
    killed = spawn(tmp_path, "killed", "run", *spec.args(), "--output-dir", str(tmp_path / "runs"))
    wait_until(killed, has_checkpoints(tmp_path / "runs", spec.kill_after))
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(timeout=60) == -signal.SIGKILL
    run_dir = the_run_dir(tmp_path / "runs")
    assert status_of(run_dir)["status"] == "running" and not (run_dir / "report.html").exists()
    if spec.total is not None:
        assert len(checkpoint_files(run_dir)) < spec.total, "the run ended before it was killed"
    kept = {p: p.stat().st_mtime_ns for p in checkpoint_files(run_dir)}

    # 2. A first resume in another process; a second one on the same folder is refused with its PID.
    first = spawn(tmp_path, "first", "run", "--resume", str(run_dir))
    wait_until(first, lambda: read_holder(run_dir).get("pid") == first.pid)
    first.send_signal(signal.SIGSTOP)
    try:
        line = refusal(capsys, "--resume", str(run_dir))
        assert f"in use by PID {first.pid}" in line
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=300) == 0, (tmp_path / "first.err").read_text()[-3000:]
    assert (tmp_path / "first.out").read_text().strip().splitlines()[-1] == str(run_dir)
    log = (run_dir / "run.log").read_text()
    assert f"PID {killed.pid}" in log and "took over the stale lock" in log
    if spec.resumed_marker is not None:
        assert spec.resumed_marker in log
    else:  # the killed run's finished items were reused, not redone
        assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert status_of(run_dir)["status"] == "completed" and results_of(run_dir) == full
    assert not (run_dir / LOCK_FILE).exists() and not list(run_dir.rglob("*.tmp"))

    # 3. A flipped byte in a checkpoint: found, named, redone; the results do not change.
    victim = checkpoint_files(run_dir)[0]
    flip_tensor_byte(victim)
    with caplog.at_level(logging.WARNING):
        assert run_cli(capsys, "--resume", str(run_dir), "--force") == run_dir
    named = [r.getMessage() for r in caplog.records if str(victim) in r.getMessage()]
    assert len(named) == 1 and "do not match its checksum" in named[0], named
    assert victim.is_file() and results_of(run_dir) == full
