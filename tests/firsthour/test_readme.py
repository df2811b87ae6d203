"""The README's commands are true: every fenced ``workbench ...`` line parses as a command of this
workbench (or is marked GPU-only), every ``make`` target it names exists, and (marker ``slow``) its two
commands work on a bare machine: a fresh clone, no virtual environment, a PATH with the system's python3."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
GPU_MARK = re.compile(r"#.*\bGPU\b", re.IGNORECASE)


def fenced_lines(text: str) -> list[str]:
    """The lines inside the fenced code blocks of a Markdown text (continuations joined)."""
    lines, inside, pending = [], False, ""
    for raw in text.splitlines():
        if raw.strip().startswith("```"):
            inside = not inside
            continue
        if not inside:
            continue
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if line:
            lines.append(line)
    return lines


def commands(prefix: str) -> list[str]:
    return [
        line for line in fenced_lines(README.read_text()) if line.startswith(prefix + " ") or line == prefix
    ]


def test_the_readme_is_one_or_two_screens_and_gives_the_two_commands():
    text = README.read_text()
    assert len(text.splitlines()) <= 200, "the README is a first screen: details belong in docs/"
    assert "make setup tour" in text and "make test-setup test" in text
    for link in re.findall(r"\]\(((?:docs|examples)/[^)#]+)", text):
        assert (ROOT / link).exists(), f"the README links {link}, which does not exist"


def test_every_workbench_command_of_the_readme_parses(capsys):
    from workbench.cli import build_parser

    found = commands("workbench")
    assert len(found) >= 5
    parser = build_parser()
    for line in found:
        if GPU_MARK.search(line):
            continue
        words = shlex.split(line, comments=True)[1:]
        if "--help" in words or "-h" in words:
            words = [w for w in words if w not in ("--help", "-h")]
            if not words:
                continue
        try:
            args = parser.parse_args(words)
        except SystemExit as exc:  # argparse refuses: the README names a command that does not exist
            pytest.fail(f"README command does not parse: {line!r} ({capsys.readouterr().err.strip()})")
            raise AssertionError from exc
        assert getattr(args, "func", None) is not None or not words or words[-1].startswith("-"), line


def test_every_make_target_of_the_readme_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))
    for line in commands("make"):
        for word in shlex.split(line, comments=True)[1:]:
            if "=" not in word:
                assert word in targets, f"README runs `make {word}`; the Makefile has no such target"


@pytest.mark.slow
def test_the_two_commands_on_a_bare_machine(tmp_path):
    """A fresh clone, no active virtual environment, PATH with /usr/bin:/bin only: ``make setup tour``
    creates .venv, installs, runs the main job and prints the run folder."""
    python3 = shutil.which("python3", path="/usr/bin:/bin")
    if python3 is None:
        pytest.fail("no system python3 in /usr/bin or /bin")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = "/usr/bin:/bin"
    env["HF_HUB_OFFLINE"] = "1"
    proc = subprocess.run(
        ["make", "setup", "tour"], cwd=clone, env=env, capture_output=True, text=True, timeout=3000
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (clone / ".venv" / "bin" / "workbench").exists()
    run_dir = clone / proc.stdout.strip().splitlines()[-1]  # relative to the clone, or absolute
    assert (run_dir / "report.html").exists() and (run_dir / "run.json").exists()
