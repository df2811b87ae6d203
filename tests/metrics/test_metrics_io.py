"""Image files -> [0, 1] RGB: grayscale, RGBA, palette, 16-bit, corrupt files."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from metrics import ImageReadError, load_image
from metrics.io import list_images, pair_images


def write_png16(path, array: np.ndarray, filters=(0,)) -> None:
    """A 16-bit PNG writer applying the given filter types row by row (cycling), to exercise decoding."""
    h, w, c = array.shape
    bpp = 2 * c
    raw = array.astype(">u2").reshape(h, w * c).view(np.uint8).reshape(h, w * bpp).astype(np.int64)
    out = []
    prior = np.zeros(w * bpp, dtype=np.int64)
    for y in range(h):
        kind = filters[y % len(filters)]
        line = raw[y]
        left = np.r_[np.zeros(bpp, dtype=np.int64), line[:-bpp]]
        up_left = np.r_[np.zeros(bpp, dtype=np.int64), prior[:-bpp]]
        if kind == 0:
            f = line
        elif kind == 1:
            f = line - left
        elif kind == 2:
            f = line - prior
        elif kind == 3:
            f = line - (left + prior) // 2
        else:
            p = left + prior - up_left
            pa, pb, pc = np.abs(p - left), np.abs(p - prior), np.abs(p - up_left)
            f = line - np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prior, up_left))
        out.append(bytes([kind]) + (f % 256).astype(np.uint8).tobytes())
        prior = line

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    colour = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"".join(out)))
        + chunk(b"IEND", b"")
    )
    path.write_bytes(data)


def test_rgb_gray_palette_and_alpha_rules(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    x = load_image(tmp_path / "rgb.png")
    assert x.shape == (3, 6, 5) and x.dtype == torch.float32
    assert torch.allclose(x, torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)

    gray = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    g = load_image(tmp_path / "gray.png")
    assert (
        g.shape == (3, 6, 5)
        and torch.equal(g[0], g[1])
        and torch.allclose(g[2], torch.from_numpy(gray).float() / 255)
    )

    rgba = np.dstack([rgb, np.array([[0, 128, 255, 255, 0]] * 6, dtype=np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    white = load_image(tmp_path / "rgba.png")
    a = torch.from_numpy(rgba[..., 3]).float() / 255
    c = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    assert torch.allclose(white, c * a + (1 - a), atol=1e-6)
    assert torch.allclose(load_image(tmp_path / "rgba.png", alpha="black"), c * a, atol=1e-6)
    with pytest.raises(ImageReadError, match="alpha channel"):
        load_image(tmp_path / "rgba.png", alpha="reject")

    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=8).save(tmp_path / "pal.png")
    assert load_image(tmp_path / "pal.png").shape == (3, 6, 5)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16bit_png_full_precision(tmp_path, channels):
    rng = np.random.default_rng(channels)
    array = rng.integers(0, 65536, (7, 9, channels), dtype=np.uint16)
    if channels == 4:
        array[..., 3] = 65535  # opaque: the colour is unchanged by compositing
    write_png16(tmp_path / "img.png", array, filters=(0, 1, 2, 3, 4))
    x = load_image(tmp_path / "img.png")
    expected = torch.from_numpy(array[..., :3].astype(np.float32) / 65535).permute(2, 0, 1)
    if channels == 1:
        expected = expected.expand(3, -1, -1)
    assert x.shape == (3, 7, 9)
    assert torch.allclose(x, expected, atol=1e-7)
    # precision finer than 8 bits is kept
    assert (x * 65535 - (x * 255).round() * 257).abs().max() > 1


def test_16bit_tiff_and_float_tiff(tmp_path):
    import tifffile

    array = np.random.default_rng(0).integers(0, 65536, (5, 4, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", array)
    assert torch.allclose(
        load_image(tmp_path / "a.tif"), torch.from_numpy(array / 65535).permute(2, 0, 1).float(), atol=1e-7
    )
    tifffile.imwrite(tmp_path / "f.tif", np.full((4, 4, 3), 2.0, dtype=np.float32))
    with pytest.raises(ImageReadError, match=r"lie in \[0, 1\]"):
        load_image(tmp_path / "f.tif")


def test_corrupt_truncated_and_missing_files(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageReadError, match="bad.png"):
        load_image(tmp_path / "bad.png")
    Image.fromarray(np.zeros((64, 64, 3), dtype=np.uint8) + 100).save(tmp_path / "ok.jpg", quality=90)
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="cut.jpg"):
        load_image(tmp_path / "cut.jpg")
    with pytest.raises(ImageReadError, match="no such file"):
        load_image(tmp_path / "missing.png")
    write_png16(tmp_path / "p16.png", np.zeros((4, 4, 3), dtype=np.uint16))
    broken = bytearray((tmp_path / "p16.png").read_bytes())
    broken[40] ^= 0xFF  # inside IDAT: CRC mismatch
    (tmp_path / "p16b.png").write_bytes(bytes(broken))
    with pytest.raises(ImageReadError, match="p16b.png"):
        load_image(tmp_path / "p16b.png")


def test_listing_and_pairing(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "r").mkdir()
    img = Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8))
    for name in ("a.png", "b.png", "c.png"):
        img.save(tmp_path / "p" / name)
    for name in ("a.jpg", "b.png", "d.png"):
        img.save(tmp_path / "r" / name)
    (tmp_path / "p" / "notes.txt").write_text("ignored")
    assert list(list_images(tmp_path / "p")) == ["a", "b", "c"]
    with pytest.raises(ImageReadError, match=r"c\.png.*d\.png"):
        pair_images(tmp_path / "p", tmp_path / "r")
    (tmp_path / "r" / "d.png").unlink()
    img.save(tmp_path / "r" / "c.png")
    assert [s for s, _, _ in pair_images(tmp_path / "p", tmp_path / "r")] == ["a", "b", "c"]
    img.save(tmp_path / "p" / "a.jpg")
    with pytest.raises(ImageReadError, match="same name"):
        list_images(tmp_path / "p")
