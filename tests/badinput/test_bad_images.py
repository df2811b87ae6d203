"""Bad image files for ``attack``, ``watermark embed`` and ``score``: truncated, not an image, empty, too
small, 16-bit, alpha, animated, decompression bombs and huge dimensions. Each is refused with one line
naming the file and nothing is written; the conversions the commands document are checked too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.badinput.conftest import assert_refused

COMMANDS = ("attack", "watermark", "score")

# kind -> words of the error line (besides the file name)
REFUSED_EVERYWHERE = {
    "truncated_png": ["truncated"],
    "text_named_png": ["cannot identify"],
    "zero_bytes": ["cannot identify"],
    "decompression_bomb": ["900000000 pixels"],
    "huge_dims": ["5000 x 5000"],
}
REFUSED_FOR_ATTACKS = {
    "one_pixel": ["1 x 1", "too small"],
    "sixteen_bit": ["16-bit"],
    "palette_transparent": ["alpha"],
    "rgba": ["alpha"],
    "animated_gif": ["2 frames"],
}


def _argv(command: str, image: Path, out: Path) -> list[str | Path]:
    if command == "attack":
        return ["attack", "jpeg", "--strength", "0.5", image, out / "attacked.png"]
    if command == "watermark":
        return ["watermark", "embed", "--method", "dwtDct", image, out / "marked.png"]
    return [
        "score",
        "--pred",
        image.parent,
        "--ref",
        image.parent,
        "--metrics",
        "psnr",
        "--csv",
        out / "s.csv",
    ]


def _cases() -> list:
    cases = [(kind, cmd, words) for kind, words in REFUSED_EVERYWHERE.items() for cmd in COMMANDS]
    cases += [(kind, cmd, words) for kind, words in REFUSED_FOR_ATTACKS.items() for cmd in COMMANDS[:2]]
    return [pytest.param(*case, id=f"{case[1]}-{case[0]}") for case in cases]


@pytest.mark.parametrize(("kind", "command", "words"), _cases())
def test_bad_image_is_refused_and_nothing_is_written(cli, make_image, tmp_path, kind, command, words):
    image = make_image(kind)
    out = tmp_path / "out"
    assert_refused(cli(*_argv(command, image, out)), image.name, *words)
    assert not out.exists(), f"{command} wrote {list(out.rglob('*'))} for a refused input"


def test_score_of_one_pixel_images_is_refused(cli, make_image, tmp_path):
    image = make_image("one_pixel")
    result = cli("score", "--pred", image.parent, "--ref", image.parent, "--metrics", "ssim")
    assert_refused(result, "SSIM", "11x11")


@pytest.mark.parametrize("kind", ["cmyk_jpeg", "palette"])
def test_attack_converts_8_bit_colour_modes(cli, make_image, tmp_path, kind):
    out = tmp_path / "attacked.png"
    assert cli("attack", "jpeg", "--strength", "0.5", make_image(kind), out).code == 0
    with Image.open(out) as im:
        assert im.mode == "RGB" and im.size == (32, 32)


@pytest.mark.parametrize(
    "kind", ["sixteen_bit", "cmyk_jpeg", "palette", "palette_transparent", "rgba", "animated_gif"]
)
def test_score_reads_the_documented_conversions(cli, make_image, kind):
    image = make_image(kind)
    result = cli("score", "--pred", image.parent, "--ref", image.parent, "--metrics", "mse", "--json")
    assert result.code == 0, result.err
    assert '"mse": 0.0' in result.out


def test_score_pixel_cap_names_the_option(cli, tmp_path, good_png):
    csv = tmp_path / "scores.csv"
    result = cli(
        "score",
        "--pred",
        tmp_path,
        "--ref",
        tmp_path,
        "--metrics",
        "psnr",
        "--max-pixels",
        "100",
        "--csv",
        csv,
    )
    assert_refused(result, "good.png", "32 x 32", "--max-pixels")
    assert not csv.exists()


def test_score_pixel_cap_can_be_raised(cli, tmp_path, good_png):
    args = ["score", "--pred", tmp_path, "--ref", tmp_path, "--metrics", "psnr", "--bootstrap", "0"]
    assert cli(*args, "--max-pixels", "1024").code == 0
    assert_refused(cli(*args, "--max-pixels", "1023"), "1024 pixels")


def test_folder_with_one_bad_image_writes_nothing(cli, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"")
    Image.new("RGB", (32, 32), (10, 200, 10)).save(folder / "b.png")
    out = tmp_path / "attacked"
    assert_refused(cli("attack", "jpeg", "--strength", "0.5", folder, out), "a.png")
    assert not out.exists()


def test_decompression_bomb_end_to_end(make_image, tmp_path):
    """The whole command, as a user runs it: one line on stderr, no traceback, no output."""
    bomb = make_image("decompression_bomb")
    out = tmp_path / "out.png"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "watermark",
            "embed",
            "--method",
            "dwtDct",
            str(bomb),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "bomb.png" in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert not out.exists()
