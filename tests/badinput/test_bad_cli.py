"""Bad arguments for every ``workbench`` sub-command: each ends with one error line naming what was
wrong, a non-zero exit, no traceback, and no output written.

Paths in the argument lists: ``{good}`` a valid 32 x 32 PNG, ``{big}`` a valid 256 x 256 PNG (the
smallest the dwtDct watermark takes), ``{dir}`` a folder holding ``{good}``, ``{file}`` a text file,
``{empty}`` an empty folder, ``{out}`` a path that must not be created.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.badinput.conftest import assert_refused

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
BIG_SEED = str(2**63)
ATTACK = ["attack", "jpeg", "--strength", "0.5"]
EMBED = ["watermark", "embed", "--method", "dwtDct"]
DECODE = ["watermark", "decode", "--method", "dwtDct"]
SCORE = ["score", "--pred", "{dir}", "--ref", "{dir}"]


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / "good.png")
    big = tmp_path / "big.png"
    Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(big)
    (tmp_path / "notes.txt").write_text("text")
    (tmp_path / "empty").mkdir()
    (tmp_path / "outdir.png").mkdir()
    return {
        "good": folder / "good.png",
        "big": big,
        "dir": folder,
        "file": tmp_path / "notes.txt",
        "empty": tmp_path / "empty",
        "out": tmp_path / "out",
        "tmp": tmp_path,
    }


def _fill(argv: list[str], paths: dict[str, Path]) -> list[str]:
    return [a.format(**{k: str(v) for k, v in paths.items()}) for a in argv]


def _case(argv: list[str], *words: str, marks=(), id: str | None = None):
    return pytest.param(argv, words, marks=marks, id=id or " ".join(argv)[:60])


CASES = [
    # run / report / models / demo / experiments
    _case(["run", "--resume", "{empty}"], "not a run folder"),
    _case(["run", "{file}"], "notes.txt", "unsupported extension"),
    _case(["report", "{empty}"], "not a run folder"),
    _case(["report", "{file}"], "not a run folder"),
    _case(["models", "--check", "{file}"], "notes.txt", "is a file"),
    _case(["models", "--check", "{tmp}/absent-model"], "absent-model"),
    _case(["models", "--kind", "bogus"], "--kind", "bogus"),
    _case(["demo", "--port", "abc"], "--port", "abc"),
    _case(["demo", "--share"], "--share"),
    _case(["experiments", "extra"], "unrecognized arguments"),
    _case(["bogus-command"], "invalid choice"),
    # toy
    _case(["toy", "train", "bogus"], "bogus", "known toy trainers"),
    _case(["toy", "train", "vae", "--seed", "-1"], "--seed", "-1"),
    _case(["toy", "train", "vae", "--minutes", "inf"], "--minutes", "finite"),
    _case(["toy", "train", "vae", "--steps", "-5"], "--steps", "out of range"),
    _case(["toy", "train", "vae", "--threads", "0"], "--threads", "out of range"),
    _case(["toy", "export", "vae", "--seed", BIG_SEED], "--seed", BIG_SEED),
    _case(["toy", "eval", "--n", "0"], "--n", "out of range"),
    _case(["toy", "train", "vae", "--device", "foo", "--no-export"], "foo", "device"),
    _case(["toy", "export", "vae", "--device", "cuda:99"], "cuda:99", "not available"),
    _case(["toy", "eval", "--only", "bogus"], "--only", "bogus", "judge"),
    # score
    _case([*SCORE, "--metrics", "psnr", "--bootstrap", "-1"], "--bootstrap", "-1"),
    _case([*SCORE, "--metrics", "psnr", "--bootstrap", "1000000000"], "--bootstrap", "100000"),
    _case([*SCORE, "--metrics", "psnr", "--batch-size", "0"], "--batch-size"),
    _case([*SCORE, "--metrics", "ms_ssim", "--ms-ssim-scales", "9"], "--ms-ssim-scales"),
    _case([*SCORE, "--metrics", "kid", "--kid-subsets", "0"], "--kid-subsets"),
    _case([*SCORE, "--metrics", "psnr", "--max-pixels", "0"], "--max-pixels"),
    _case([*SCORE, "--metrics", "bogus"], "bogus", "known"),
    _case([*SCORE, "--metrics", "psnr", "--csv", "{empty}"], "--csv", "is a folder"),
    _case([*SCORE, "--metrics", "psnr", "--csv", "{file}/scores.csv"], "--csv", "notes.txt", "is a file"),
    _case([*SCORE, "--metrics", "psnr", "--seed", "-1"], "--seed"),
    _case([*SCORE, "--metrics", "psnr", "--seed", BIG_SEED], "--seed"),
    _case([*SCORE, "--metrics", "psnr", "--alpha", "grey"], "--alpha", "grey"),
    _case([*SCORE, "--metrics", "clip_t", "--prompts", "{tmp}/absent.json"], "absent.json"),
    _case([*SCORE, "--metrics", "clip_t"], "clip_t", "--prompts"),
    _case(["score", "--pred", "{dir}", "--metrics", "psnr"], "psnr", "--ref"),
    _case(["score", "--pred", "{tmp}/absent", "--ref", "{dir}", "--metrics", "psnr"], "absent"),
    _case(["score", "--pred", "{empty}", "--ref", "{dir}", "--metrics", "psnr"], "empty", "no images"),
    _case(["score", "--pred", "{dir}", "--ref", "{dir}"], "--metrics"),
    _case([*SCORE, "--metrics", "psnr", "--device", "foo"], "foo", "device"),
    # watermark embed
    _case(["watermark", "embed", "{big}", "{out}.png"], "--method"),
    _case(["watermark", "embed", "--method", "bogus", "{big}", "{out}.png"], "--method", "bogus"),
    _case([*EMBED, "--payload", "0120", "{big}", "{out}.png"], "0120"),
    _case([*EMBED, "--payload", "0101", "{big}", "{out}.png"], "bits"),
    _case([*EMBED, "--seed", "-1", "{big}", "{out}.png"], "--seed"),
    _case([*EMBED, "--seed", BIG_SEED, "{big}", "{out}.png"], "--seed"),
    _case([*EMBED, "--batch-size", "0", "{big}", "{out}.png"], "--batch-size"),
    _case([*EMBED, "--device", "foo", "{big}", "{out}.png"], "foo", "device"),
    _case([*EMBED, "--device", "cuda:99", "{big}", "{out}.png"], "cuda:99"),
    _case([*EMBED, "--device", "cuda", "{big}", "{out}.png"], "cuda", "not available", marks=NO_CUDA),
    _case([*EMBED, "{tmp}/absent.png", "{out}.png"], "absent.png", "no such file"),
    _case([*EMBED, "{empty}", "{out}"], "empty", "no image files"),
    _case([*EMBED, "{big}", "{out}.jpg"], "out.jpg", "PNG"),
    _case([*EMBED, "{big}", "{tmp}/outdir.png"], "outdir.png", "is a folder"),
    _case([*EMBED, "{big}", "{file}/marked.png"], "notes.txt", "is a file"),
    _case([*EMBED, "--key", "{empty}", "{big}", "{out}.png"], "--key", "is a folder"),
    _case([*EMBED, "--set", "bogus=1", "{big}", "{out}.png"], "bogus"),
    _case([*EMBED, "--set", "a.b=1", "{big}", "{out}.png"], "top-level field"),
    _case([*EMBED, "--set", "seed=-3", "{big}", "{out}.png"], "seed"),
    _case([*EMBED, "{dir}", "{out}.png"], "folder"),
    # watermark decode
    _case(
        ["watermark", "decode", "--key", "{tmp}/MISSING.json", "{big}"],
        "--key",
        "MISSING.json",
        "does not exist",
    ),
    _case(
        ["watermark", "decode", "--method", "dwtDct", "--key", "{tmp}/MISSING.json", "{big}"], "MISSING.json"
    ),
    _case(["watermark", "decode", "--key", "{empty}", "{big}"], "--key", "is a folder"),
    _case(["watermark", "decode", "--key", "{file}", "{big}"], "notes.txt", "not a watermark key file"),
    _case(["watermark", "decode", "{big}"], "--method"),
    _case([*DECODE, "{big}", "{empty}"], "is a folder", "JSON"),
    _case([*DECODE, "{big}", "{file}/report.json"], "notes.txt", "is a file"),
    _case([*DECODE, "--seed", "-1", "{big}"], "--seed"),
    _case([*DECODE, "{tmp}/absent.png"], "absent.png"),
    # attack
    _case([*ATTACK[:2], "--strength", "2", "{good}", "{out}.png"], "strength", "[0, 1]"),
    _case([*ATTACK[:2], "--strength", "nan", "{good}", "{out}.png"], "--strength", "finite"),
    _case([*ATTACK[:2], "--strength", "inf", "{good}", "{out}.png"], "--strength", "finite"),
    _case([*ATTACK[:2], "--strength", "abc", "{good}", "{out}.png"], "--strength", "not a number"),
    _case(["attack", "bogus", "--strength", "0.5", "{good}", "{out}.png"], "bogus"),
    _case(["attack", "jpeg", "{good}", "{out}.png"], "--strength"),
    _case([*ATTACK, "{tmp}/absent.png", "{out}.png"], "absent.png"),
    _case([*ATTACK, "{empty}", "{out}"], "no image files"),
    _case([*ATTACK, "{good}", "{out}.jpg"], "out.jpg", "PNG"),
    _case([*ATTACK, "{good}", "{tmp}/outdir.png"], "outdir.png", "is a folder"),
    _case([*ATTACK, "{good}", "{file}/attacked.png"], "notes.txt", "is a file"),
    _case([*ATTACK, "{dir}", "{out}.png"], "must be a folder"),
    _case([*ATTACK, "{dir}", "{file}"], "notes.txt", "must be a folder"),
    _case([*ATTACK, "--set", "bogus=1", "{good}", "{out}.png"], "bogus"),
    _case([*ATTACK, "--seed", "-1", "{good}", "{out}.png"], "--seed"),
    _case([*ATTACK, "--seed", "99999999999999999999999", "{good}", "{out}.png"], "--seed"),
    _case([*ATTACK, "--device", "foo", "{good}", "{out}.png"], "foo", "device"),
    _case([*ATTACK, "--device", "cuda", "{good}", "{out}.png"], "cuda", "not available", marks=NO_CUDA),
    _case([*ATTACK, "--batch-size", "0", "{good}", "{out}.png"], "--batch-size"),
    _case(
        ["attack", "blur", "--strength", "0.5", "--set", "max_sigma=.inf", "{good}", "{out}.png"],
        "max_sigma",
        "finite",
    ),
    _case(
        ["attack", "noise", "--strength", "0.5", "--set", "max_std=nan", "{good}", "{out}.png"],
        "max_std",
        "finite",
    ),
    _case(
        ["attack", "rotation", "--strength", "0.5", "--set", "max_degrees=-.inf", "{good}", "{out}.png"],
        "max_degrees",
    ),
    # masterprints
    _case(["masterprints", "evaluate", "{tmp}/absent.png", "--prompts", "a red circle"], "absent.png"),
    _case(["masterprints", "evaluate", "{good}", "--prompts", "a", "--world-seed", "-1"], "--world-seed"),
    _case(
        ["masterprints", "evaluate", "{good}", "--prompts", "a", "--real-per-prompt", "0"],
        "--real-per-prompt",
    ),
    # layout
    _case(["layout", "plan"], "prompt"),
    _case(["layout", "generate", "a red circle", "{out}.png", "--steps", "0"], "--steps"),
    _case(["layout", "generate", "a red circle", "{out}.png", "--seed", "-1"], "--seed"),
    _case(
        ["layout", "generate", "a red circle", "{out}.png", "--guidance-scale", "nan"],
        "--guidance-scale",
        "finite",
    ),
    _case(
        ["layout", "generate", "a red circle", "{out}.png", "--layout", "{tmp}/absent.json"], "absent.json"
    ),
    _case(
        ["layout", "poster", "{good}", "bg", "{out}.png", "--tagline", "x", "--band-height", "2"],
        "--band-height",
    ),
    _case(["layout", "train-gligen", "--batch-size", "0"], "--batch-size"),
    # multiconcept
    _case(["multiconcept", "x", "--concept", "a", "{tmp}/absent.png", "--out", "{out}"], "absent.png"),
    _case(["multiconcept", "x", "--concept", "a", "{good}", "--out", "{out}", "--n", "0"], "--n"),
    _case(["multiconcept", "x", "--concept", "a", "{good}", "--out", "{out}", "--seed", "-1"], "--seed"),
    _case(
        ["multiconcept", "x", "--concept", "a", "{good}", "--out", "{out}", "--guidance", "nan"], "--guidance"
    ),
    _case(["multiconcept", "x", "--concept", "a", "{good}", "--out", "{out}", "--size", "7"], "--size"),
    _case(["multiconcept", "x", "--concept", "a", "{good}", "--out", "{file}"], "--out", "is a file"),
    _case(["multiconcept", "x", "--concept", "a", "{good}", "--out", "{out}", "--device", "foo"], "foo"),
    # kb
    _case(["kb", "search", "{tmp}/absent", "query"], "absent", "not a knowledge base"),
    _case(["kb", "search", "{empty}", "query", "-k", "0"], "-k"),
    _case(["kb", "search", "{file}", "query"], "notes.txt", "not a knowledge base"),
]


@pytest.mark.parametrize(("argv", "words"), CASES)
def test_bad_arguments(cli, paths, argv, words):
    before = sorted(p.relative_to(paths["tmp"]) for p in paths["tmp"].rglob("*"))
    assert_refused(cli(*_fill(argv, paths)), *_fill(list(words), paths))
    after = sorted(p.relative_to(paths["tmp"]) for p in paths["tmp"].rglob("*") if p.name != "last-error.log")
    assert after == before, f"files written for refused arguments: {sorted(set(after) - set(before))}"


def test_decode_with_a_missing_key_decodes_nothing(cli, paths):
    """A missing key is an error, never a decode against a random payload."""
    result = cli(
        "watermark", "decode", "--method", "dwtDct", "--key", paths["tmp"] / "MISSING.json", paths["big"]
    )
    assert_refused(result, "MISSING.json")
    assert "bit_accuracy" not in result.out


def test_unwritable_output_names_the_output_not_a_temporary_file(cli, paths):
    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc (a folder where files cannot be created)")
    line = assert_refused(cli(*ATTACK, paths["good"], "/proc/attacked.png"), "/proc/attacked.png")
    assert ".tmp" not in line


def test_unexpected_error_points_to_a_log(cli, paths, monkeypatch):
    import attacks.cli

    def broken(args):
        raise RuntimeError("kaput")

    monkeypatch.setattr(attacks.cli, "_runtime", broken)
    result = cli(*ATTACK, paths["good"], paths["out"] / "a.png")
    line = assert_refused(result, "unexpected RuntimeError", "kaput", "last-error.log")
    assert result.code == 1 and line
    assert "Traceback" in (paths["tmp"] / "last-error.log").read_text()


def test_debug_prints_the_traceback(cli, paths, monkeypatch):
    import attacks.cli

    monkeypatch.setattr(attacks.cli, "_runtime", lambda args: 1 / 0)
    result = cli("--debug", *ATTACK, paths["good"], paths["out"] / "a.png")
    assert result.code == 1 and "Traceback" in result.err and "ZeroDivisionError" in result.err


def test_valid_arguments_still_work(cli, paths):
    """The checks refuse bad input only: the same commands with good values succeed."""
    out = paths["tmp"] / "attacked.png"
    assert cli(*ATTACK, "--seed", str(2**63 - 1), paths["good"], out).code == 0 and out.is_file()
    marked = paths["tmp"] / "marked.png"
    assert cli(*EMBED, paths["big"], marked).code == 0
    result = cli("watermark", "decode", "--key", f"{marked}.key.json", marked)
    assert result.code == 0 and "bit_accuracy=1.0000" in result.out
    csv = paths["tmp"] / "s.csv"
    result = cli(
        "score", "--pred", paths["dir"], "--ref", paths["dir"], "--metrics", "mse", "--csv", csv, "--json"
    )
    assert result.code == 0 and json.loads(result.out)["aggregate"]["mse"] == 0.0 and csv.is_file()
