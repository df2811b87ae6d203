"""Users' own image files: bad inputs get clear errors; the ``workbench watermark`` / ``attack`` commands."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from attacks.image.files import ImageFileError, load_image_file
from workbench.cli import main


def _photo(path, size=(256, 256)):
    from skimage import data

    Image.fromarray(data.astronaut()).resize(size).save(path)
    return path


def test_bad_image_files(tmp_path):
    good = _photo(tmp_path / "good.png")
    assert load_image_file(good).shape == (3, 256, 256)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(good.read_bytes()[:400])
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all")
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (64, 64), (255, 0, 0, 128)).save(rgba)
    gray16 = tmp_path / "gray16.png"
    Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).save(gray16)
    rgb16 = tmp_path / "rgb16.png"
    import cv2

    cv2.imwrite(str(rgb16), np.full((64, 64, 3), 40000, np.uint16))
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (8, 8)).save(tiny)
    cases = {
        corrupt: "not a readable image",
        junk: "not a readable image",
        rgba: "alpha channel",
        gray16: "16-bit",
        rgb16: "16-bit",
        tiny: "too small",
        tmp_path / "missing.png": "no such file",
    }
    for path, match in cases.items():
        with pytest.raises(ImageFileError, match=match):
            load_image_file(path)
    with pytest.raises(ImageFileError, match="more than the limit"):
        load_image_file(good, max_pixels=100 * 100)


def test_cli_embed_decode_attack(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    _photo(folder / "a.png")
    _photo(folder / "b.png", size=(256, 320))
    payload = "10110011100011110000111110000011"
    assert (
        main(
            [
                "watermark",
                "embed",
                "--method",
                "dwtDctSvd",
                "--payload",
                payload,
                str(folder),
                str(tmp_path / "wm"),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "wm").iterdir()) == ["a.png", "b.png", "watermark_key.json"]
    capsys.readouterr()
    report = tmp_path / "decoded.json"
    assert (
        main(
            [
                "watermark",
                "decode",
                "--key",
                str(tmp_path / "wm" / "watermark_key.json"),
                str(tmp_path / "wm"),
                str(report),
            ]
        )
        == 0
    )
    rows = json.loads(report.read_text())["images"]
    assert [r["bits"] for r in rows] == [payload, payload]
    assert main(["attack", "jpeg", "--strength", "0.9", str(tmp_path / "wm"), str(tmp_path / "jpeg")]) == 0
    assert (
        main(
            [
                "attack",
                "blur",
                "--strength",
                "0.5",
                str(tmp_path / "wm" / "a.png"),
                str(tmp_path / "blurred.png"),
            ]
        )
        == 0
    )
    assert (tmp_path / "blurred.png").is_file()
    capsys.readouterr()
    assert (
        main(["watermark", "decode", "--method", "dwtDctSvd", "--payload", payload, str(tmp_path / "jpeg")])
        == 0
    )
    out = capsys.readouterr().out
    accuracies = [float(part.split("=")[1]) for part in out.split() if part.startswith("bit_accuracy=")]
    assert len(accuracies) == 2 and max(accuracies) < 0.9  # JPEG quality 19 broke it


@pytest.mark.parametrize(
    "argv, match",
    [
        (["attack", "jpeg", "--strength", "1.5", "IN", "OUT"], r"strength must be in \[0, 1\]"),
        (["watermark", "embed", "--method", "dwtDct", "--payload", "0101", "IN", "OUT"], "must have 32 bits"),
        (["watermark", "embed", "--payload", "0101", "IN", "OUT"], "--method is required"),
        (["attack", "jpeg", "--strength", "0.5", "IN", "out.jpg"], "written as PNG"),
        (["attack", "jpeg", "--strength", "0.5", "--set", "quality=3", "IN", "OUT"], "quality"),
    ],
)
def test_cli_errors_are_clear(tmp_path, capsys, argv, match):
    _photo(tmp_path / "x.png")
    argv = [str(tmp_path / "x.png") if a == "IN" else str(tmp_path / "o") if a == "OUT" else a for a in argv]
    assert main(argv) == 2
    assert re.search(match, capsys.readouterr().err)
