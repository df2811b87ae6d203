"""Helpers of the bad-input suite: in-process ``workbench`` calls and tiny synthetic bad files.

Every case asserts the same contract: a non-zero exit status, exactly one ``error`` line on stderr that
names what was wrong, no traceback, and nothing half-written.
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@dataclass
class Result:
    """The exit status and the captured streams of one ``workbench`` call."""

    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if "error:" in line]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Call ``workbench ARGS`` in-process; returns a :class:`Result` (argparse exits are caught)."""
    from workbench.cli import main

    monkeypatch.setenv("WORKBENCH_ERROR_LOG", str(tmp_path / "last-error.log"))
    monkeypatch.delenv("WORKBENCH_DEBUG", raising=False)

    def call(*argv: str | Path) -> Result:
        capsys.readouterr()
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse errors; a message code is printed as the interpreter would
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return call


def assert_refused(result: Result, *needles: str) -> str:
    """A clean refusal: non-zero exit, one error line naming every needle (case-insensitive), no
    traceback. Returns the error line."""
    assert result.code != 0, f"exit 0 for bad input; stdout: {result.out[-500:]}"
    assert "Traceback" not in result.err, result.err
    lines = result.error_lines
    assert len(lines) == 1, f"expected one error line, got: {result.err!r}"
    line = lines[0]
    for needle in needles:
        assert needle.lower() in line.lower(), f"{needle!r} not in {line!r}"
    return line


# ---------------------------------------------------------------------------------------------- images
def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int, depth: int = 1, colour: int = 0) -> bytes:
    """A PNG that declares ``width x height`` but holds one tiny IDAT (a bomb or a huge-dims file)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


def rgb_png_bytes(size: int = 32, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _save(image: Image.Image, path: Path, **kwargs: object) -> Path:
    image.save(path, **kwargs)
    return path


def _pattern(size: int = 32) -> np.ndarray:
    return (np.arange(size * size * 3).reshape(size, size, 3) % 251).astype(np.uint8)


IMAGE_MAKERS: dict[str, Callable[[Path], Path]] = {
    "truncated_png": lambda d: _write(d / "truncated.png", rgb_png_bytes()[:200]),
    "text_named_png": lambda d: _write(d / "notes.png", b"these are notes, not pixels\n"),
    "zero_bytes": lambda d: _write(d / "empty.png", b""),
    "one_pixel": lambda d: _save(Image.new("RGB", (1, 1), (200, 10, 10)), d / "dot.png"),
    "sixteen_bit": lambda d: _save(
        Image.fromarray((np.arange(32 * 32).reshape(32, 32) * 60).astype(np.uint16)), d / "deep.png"
    ),
    "cmyk_jpeg": lambda d: _save(Image.fromarray(_pattern()).convert("CMYK"), d / "print.jpg"),
    "palette": lambda d: _save(Image.fromarray(_pattern()).convert("P"), d / "palette.png"),
    "palette_transparent": lambda d: _save(
        Image.fromarray(_pattern()).convert("P"), d / "palette_t.png", transparency=0
    ),
    "rgba": lambda d: _save(Image.fromarray(_pattern()).convert("RGBA"), d / "alpha.png"),
    "animated_gif": lambda d: _save(
        Image.fromarray(_pattern()).convert("P"),
        d / "anim.gif",
        save_all=True,
        append_images=[Image.fromarray(255 - _pattern()).convert("P")],
    ),
    "decompression_bomb": lambda d: _write(d / "bomb.png", png_header_only(30_000, 30_000)),
    "huge_dims": lambda d: _write(d / "huge.png", png_header_only(5_000, 5_000, depth=8, colour=2)),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def make_image(tmp_path: Path) -> Callable[[str], Path]:
    """``make_image(kind)``: a file of :data:`IMAGE_MAKERS` kind ``kind`` in a fresh folder."""

    def make(kind: str) -> Path:
        folder = tmp_path / f"in-{kind}"
        folder.mkdir(exist_ok=True)
        return IMAGE_MAKERS[kind](folder)

    return make


@pytest.fixture
def good_png(tmp_path: Path) -> Path:
    """A valid 32 x 32 RGB PNG."""
    return _write(tmp_path / "good.png", rgb_png_bytes())
