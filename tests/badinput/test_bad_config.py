"""Bad experiment configs for ``workbench run``: wrong types, unknown keys, non-finite numbers, bad sizes
and seeds, missing files, empty or huge prompts, unparsable files, bad overrides and devices.

Each is refused before a run folder is created, with one error line naming the field."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from tests.badinput.conftest import assert_refused

SMOKE: dict[str, Any] = {
    "experiment": "smoke",
    "seed": 0,
    "runtime": {"device": "cpu"},
    "generate": {
        "model": "dummy",
        "prompts": ["a red circle"],
        "images_per_prompt": 1,
        "num_inference_steps": 1,
        "guidance_scale": 5.0,
        "image_size": 32,
    },
    "score": {"clip": "none"},
}
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")


def _with(path: str, value: Any) -> dict[str, Any]:
    """SMOKE with ``path`` (dotted) set to ``value`` (``...`` deletes it)."""
    data = copy.deepcopy(SMOKE)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if value is ...:
        node.pop(last, None)
    else:
        node[last] = value
    return data


def _write_config(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _assert_no_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "a run folder was created for a refused config"


# (field path, value, words the error line must contain)
FIELD_CASES = [
    # wrong types
    ("seed", "seven", ["seed", "integer"]),
    ("seed", 1.5, ["seed"]),
    ("generate.images_per_prompt", "many", ["generate.images_per_prompt"]),
    ("generate.prompts", 5, ["generate.prompts"]),
    ("generate.prompts", "a red circle", ["generate.prompts", "list"]),
    ("runtime.deterministic", "maybe", ["runtime.deterministic"]),
    ("runtime.precision", "fp8", ["runtime.precision"]),
    ("name", ["a", "b"], ["name"]),
    ("generate", "fast", ["generate"]),
    ("generate.image_size", 33, ["generate.image_size", "multiple of 8"]),
    # unknown keys
    ("bogus", 1, ["bogus", "unknown field"]),
    ("generate.bogus", 1, ["generate.bogus", "unknown field", "guidance_scale"]),
    ("runtime.gpu", True, ["runtime.gpu", "unknown field"]),
    ("score.bogus", 1, ["score.bogus", "unknown field"]),
    # non-finite numbers
    ("generate.guidance_scale", float("inf"), ["generate.guidance_scale", "finite"]),
    ("generate.guidance_scale", float("-inf"), ["generate.guidance_scale"]),
    ("generate.guidance_scale", float("nan"), ["generate.guidance_scale"]),
    ("generate.guidance_scale", "inf", ["generate.guidance_scale", "finite"]),
    # negative and huge sizes
    ("generate.images_per_prompt", -1, ["generate.images_per_prompt"]),
    ("generate.images_per_prompt", 0, ["generate.images_per_prompt"]),
    ("generate.images_per_prompt", 10**9, ["generate.images_per_prompt"]),
    ("generate.num_inference_steps", 0, ["generate.num_inference_steps"]),
    ("generate.num_inference_steps", 10**9, ["generate.num_inference_steps"]),
    ("generate.image_size", -8, ["generate.image_size"]),
    ("generate.image_size", 8192, ["generate.image_size"]),
    ("generate.batch_size", 0, ["generate.batch_size"]),
    ("generate.guidance_scale", -1.0, ["generate.guidance_scale"]),
    # seeds
    ("seed", -1, ["seed"]),
    ("seed", 2**63, ["seed"]),
    ("seed", 10**30, ["seed"]),
    # prompts
    ("generate.prompts", [], ["generate.prompts"]),
    ("generate.prompts", [""], ["generate.prompts", "empty"]),
    ("generate.prompts", ["a circle", "   "], ["generate.prompts", "prompt 1", "empty"]),
    ("generate.prompts", ["x" * 20_000], ["generate.prompts", "20000 characters"]),
    ("generate.prompts", [None], ["generate.prompts"]),
    # experiment names
    ("experiment", ..., ["experiment", "missing"]),
    ("experiment", "bogus", ["experiment", "unknown", "smoke"]),
    # devices (checked before a run folder exists)
    ("runtime.device", "foo", ["foo", "device"]),
    ("runtime.device", "cuda:99", ["cuda:99", "not available"]),
    pytest.param("runtime.device", "cuda", ["cuda", "not available", "cpu"], marks=NO_CUDA),
    ("runtime.precision", "fp16", ["fp16", "cpu"]),
]


@pytest.mark.parametrize(("field", "value", "words"), FIELD_CASES, ids=lambda v: str(v)[:24])
def test_bad_field_is_refused_before_a_run_folder(cli, tmp_path, field, value, words):
    config = _write_config(tmp_path, _with(field, value))
    result = cli("run", config, "--output-dir", tmp_path / "runs")
    assert_refused(result, *words)
    _assert_no_run(tmp_path)


# (--set override, words)
OVERRIDE_CASES = [
    ("generate.guidance_scale=.inf", ["generate.guidance_scale", "finite"]),
    ("generate.guidance_scale=nan", ["generate.guidance_scale"]),
    ("seed=-5", ["seed"]),
    ("seed=9223372036854775808", ["seed"]),
    ("generate.images_per_prompt", ["key.path=value"]),
    ("=3", ["empty key"]),
    ("generate..steps=3", ["empty key"]),
    ("generate.prompts.9=a star", ["generate.prompts.9", "index"]),
    ("generate.model.name=x", ["generate.model", "not a section"]),
    ("generate.prompts=[unclosed", ["not valid YAML"]),
    ("generate.nope=1", ["generate.nope", "unknown field"]),
]


@pytest.mark.parametrize(("override", "words"), OVERRIDE_CASES)
def test_bad_override_is_refused(cli, tmp_path, override, words):
    config = _write_config(tmp_path, SMOKE)
    result = cli("run", config, "--set", override, "--output-dir", tmp_path / "runs")
    assert_refused(result, *words)
    _assert_no_run(tmp_path)


# (file name, content, words)
FILE_CASES = [
    ("bad.yaml", "experiment: smoke\ngenerate: [unclosed\n", ["could not be parsed"]),
    ("list.yaml", "- experiment: smoke\n", ["mapping", "list"]),
    ("config.json", json.dumps(SMOKE), ["unsupported extension", ".yaml"]),
    ("bad.toml", "experiment = \n", ["could not be parsed"]),
    ("binary.yaml", b"\xff\xfe\x00garbage", ["not UTF-8"]),
    ("empty.yaml", "", ["experiment", "missing"]),
    ("tabs.yaml", "experiment: smoke\n\tseed: 1\n", ["could not be parsed"]),
]


@pytest.mark.parametrize(("name", "content", "words"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_unreadable_config_file_is_refused(cli, tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    named = [name] if content else []  # an empty file is an empty mapping: its field is named instead
    assert_refused(cli("run", path, "--output-dir", tmp_path / "runs"), *named, *words)
    _assert_no_run(tmp_path)


def test_missing_config_file(cli, tmp_path):
    assert_refused(cli("run", tmp_path / "absent.yaml"), "absent.yaml", "does not exist")


def test_config_that_is_a_folder_says_so(cli, tmp_path):
    line = assert_refused(cli("run", tmp_path), "is a folder", "--resume")
    assert "does not exist" not in line


def test_output_dir_that_is_a_file(cli, tmp_path):
    blocker = tmp_path / "runs"
    blocker.write_text("a file")
    result = cli("run", _write_config(tmp_path, SMOKE), "--output-dir", blocker)
    assert_refused(result, "runs", "is a file")
    assert blocker.read_text() == "a file"


def test_output_dir_under_a_file(cli, tmp_path):
    (tmp_path / "blocker").write_text("a file")
    data = _with("output_dir", str(tmp_path / "blocker" / "runs"))
    assert_refused(cli("run", _write_config(tmp_path, data)), "blocker", "is a file")


def test_missing_model_folder_fails_the_run_with_one_line(cli, tmp_path):
    data = _with("generate.model", str(tmp_path / "no-such-model"))
    result = cli("run", _write_config(tmp_path, data), "--output-dir", tmp_path / "runs")
    assert_refused(result, "no-such-model")
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "run.json").read_text())["status"] == "failed"


def test_model_path_that_is_a_file_end_to_end(tmp_path):
    """The run fails with one line on the console; its traceback is in run.log, the folder says failed."""
    model = tmp_path / "model.png"
    model.write_bytes(b"not a model")
    config = _write_config(tmp_path, _with("generate.model", str(model)))
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "run", str(config), "--output-dir", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "model.png" in errors[0] and "is a file" in errors[0]
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    assert "Traceback" in (run / "run.log").read_text()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--resume", "{tmp}"], ["not a run folder"]),
        (["--resume", "{tmp}/absent"], ["not a run folder"]),
        (["{config}", "--resume", "{tmp}"], ["--resume", "do not pass CONFIG"]),
        ([], ["needs a CONFIG"]),
    ],
)
def test_bad_resume(cli, tmp_path, argv, words):
    config = _write_config(tmp_path, SMOKE)
    args = [a.format(tmp=tmp_path, config=config) for a in argv]
    assert_refused(cli("run", *args), *words)


# (layout JSON content, words)
LAYOUT_CASES = [
    ({"phrases": ["a red circle"], "boxes": [[0.0, 0.0, 2.0, 1.0]]}, ["box", "[0, 1]"]),
    ({"phrases": ["a red circle"], "boxes": [[-0.5, 0.0, 0.5, 1.0]]}, ["box"]),
    ({"phrases": ["a red circle"], "boxes": [[0.8, 0.0, 0.2, 1.0]]}, ["box"]),
    ({"phrases": ["a red circle"], "boxes": [[0.0, 0.0, 1.0]]}, ["box 0", "four numbers"]),
    ({"phrases": ["a red circle"], "boxes": [[0.0, 0.0, float("inf"), 1.0]]}, ["box"]),
    ({"phrases": ["a red circle", "a blue star"], "boxes": [[0.0, 0.0, 0.5, 0.5]]}, ["box"]),
    ({"phrases": [], "boxes": []}, ["--layout"]),
    ([[0, 0, 1, 1]], ["JSON object"]),
    ("{not json", ["not valid JSON"]),
]


@pytest.mark.parametrize(("content", "words"), LAYOUT_CASES, ids=lambda v: str(v)[:30])
def test_bad_layout_file(cli, tmp_path, content, words):
    layout = tmp_path / "layout.json"
    layout.write_text(content if isinstance(content, str) else json.dumps(content))
    out = tmp_path / "out.png"
    result = cli(
        "layout", "generate", "a red circle", out, "--layout", layout, "--model", "dummy", "--device", "cpu"
    )
    assert_refused(result, "layout.json", *words)
    assert not out.exists()
