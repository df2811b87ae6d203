"""The ``workbench`` command: help, models listing and checks, demo refusals, plugin discovery."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workbench.cli import build_parser, main
from workbench.dummy import save_dummy_clip


@pytest.mark.parametrize(
    "argv", [["--help"], ["run", "--help"], ["report", "--help"], ["models", "--help"], ["demo", "--help"]]
)
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "usage: workbench" in out
    if argv == ["--help"]:
        assert all(cmd in out for cmd in ("run", "report", "models", "demo", "examples:"))
    if argv[0] == "run":
        assert "--set" in out and "--resume" in out and "--output-dir" in out


def test_console_script_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and "workbench" in out.stdout


def test_models_lists_every_preset(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("toy", "sd15", "sd21", "sd-turbo", "clip-b32", "clip-l14", "blip", "kosmos2", "dinov2"):
        assert f"\n{name} " in out
    assert "openai/clip-vit-base-patch32" in out


def test_models_check_fails_with_the_reason_naming_the_model(capsys):
    assert main(["models", "--check", "workbench-tests/absent-model"]) == 1
    err = capsys.readouterr().err
    assert "workbench-tests/absent-model" in err and "huggingface-cli download" in err
    assert main(["models", "--check", "/no/such/dir"]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_models_check_loads_a_local_folder(tmp_path, capsys):
    folder = save_dummy_clip(tmp_path / "clip")
    assert main(["models", "--check", str(folder)]) == 0
    assert "[clip]: loads" in capsys.readouterr().out


def test_demo_share_is_refused():
    with pytest.raises(SystemExit, match="--share is refused"):
        main(["demo", "--share"])


def test_run_without_config_is_an_error(capsys):
    assert main(["run"]) == 2
    assert "needs a CONFIG" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: workbench" in capsys.readouterr().out


def test_parser_has_the_core_commands():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert {"run", "report", "models", "demo", "experiments"} <= set(sub.choices)
