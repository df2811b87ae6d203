"""A minimal reader for 16-bit PNGs (Pillow reads 16-bit colour PNGs as 8-bit, losing precision)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> channels


def png_header(path: str | Path) -> tuple[int, int, int, int, int] | None:
    """``(width, height, bit_depth, colour_type, interlace)`` of a PNG, or ``None`` for other files."""
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[:8] != _SIGNATURE or head[12:16] != b"IHDR":
        return None
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return w, h, depth, ctype, interlace


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def read_png16(path: str | Path) -> np.ndarray:
    """Decode a non-interlaced 16-bit PNG.

    Returns:
        `np.ndarray` of shape `(H, W, C)`, uint16, C = 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).

    Raises:
        ValueError: not a 16-bit PNG, interlaced, or corrupt (bad chunk, CRC or data length).
    """
    data = Path(path).read_bytes()
    if data[:8] != _SIGNATURE:
        raise ValueError("not a PNG file")
    pos, idat, header = 8, [], None
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if (
            len(body) != length
            or len(crc) != 4
            or zlib.crc32(ctype + body) & 0xFFFFFFFF != struct.unpack(">I", crc)[0]
        ):
            raise ValueError(f"corrupt PNG chunk {ctype!r}")
        if ctype == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
        pos += 12 + length
    if header is None or not idat:
        raise ValueError("PNG without IHDR or image data")
    width, height, depth, colour, _, _, interlace = header
    if depth != 16 or colour not in _CHANNELS:
        raise ValueError(f"not a 16-bit gray/RGB(A) PNG (bit depth {depth}, colour type {colour})")
    if interlace:
        raise ValueError("interlaced 16-bit PNGs are not supported; re-save without interlacing")
    channels = _CHANNELS[colour]
    bpp = 2 * channels
    stride = width * bpp
    try:
        raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    except zlib.error as err:
        raise ValueError(f"corrupt PNG image data ({err})") from err
    if raw.size != height * (stride + 1):
        raise ValueError(f"PNG image data has {raw.size} bytes, expected {height * (stride + 1)}")
    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.int64)
    prior = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int64)
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: running sum per byte lane
            cur = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) % 256
        elif kind == 2:  # Up
            cur = (line + prior) % 256
        elif kind in (3, 4):  # Average / Paeth: sequential over pixels
            cur = np.zeros(stride, dtype=np.int64)
            left = np.zeros(bpp, dtype=np.int64)
            up_left = np.zeros(bpp, dtype=np.int64)
            for x in range(width):
                s = slice(x * bpp, (x + 1) * bpp)
                up = prior[s]
                pred = (left + up) // 2 if kind == 3 else _paeth(left, up, up_left)
                left = (line[s] + pred) % 256
                cur[s] = left
                up_left = up
        else:
            raise ValueError(f"corrupt PNG: unknown filter type {kind} in row {y}")
        out[y] = cur
        prior = cur
    pixels = out.astype(np.uint8).reshape(height, width, channels, 2)
    return (pixels[..., 0].astype(np.uint16) << 8) | pixels[..., 1].astype(np.uint16)
