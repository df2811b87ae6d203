"""Rasterise shapes-world scenes with anti-aliased signed distance fields (NumPy, thousands a second)."""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from .scene import ObjectSpec, Scene
from .vocab import COLORS


def _regular_star(points: int, inner: float) -> np.ndarray:
    angles = np.arange(2 * points) * math.pi / points - math.pi / 2
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _fit_unit_box(poly: np.ndarray) -> np.ndarray:
    """Stretch a polygon so its bounding box is exactly [-1, 1] x [-1, 1]."""
    lo, hi = poly.min(0), poly.max(0)
    return (poly - lo) / (hi - lo) * 2 - 1


@cache
def shape_polygon(shape: str) -> np.ndarray | None:
    """Vertices (K, 2) in the unit box for polygonal shapes; ``None`` for the circle."""
    if shape == "circle":
        return None
    if shape == "square":
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    if shape == "diamond":
        return np.array([[0, -1], [1, 0], [0, 1], [-1, 0]], dtype=np.float64)
    if shape == "triangle":
        return np.array([[0, -1], [1, 1], [-1, 1]], dtype=np.float64)
    if shape == "star":
        return _fit_unit_box(_regular_star(5, 0.42))
    if shape == "cross":
        a = 0.36
        return np.array(
            [
                [-a, -1],
                [a, -1],
                [a, -a],
                [1, -a],
                [1, a],
                [a, a],
                [a, 1],
                [-a, 1],
                [-a, a],
                [-1, a],
                [-1, -a],
                [-a, -a],
            ],
            dtype=np.float64,
        )
    raise ValueError(f"unknown shape {shape!r}")


def _polygon_sdf(px: np.ndarray, py: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) from points to a closed polygon; px, py: (N,), poly: (K, 2)."""
    a = poly  # (K, 2)
    b = np.roll(poly, -1, axis=0)
    e = b - a  # (K, 2)
    wx = px[None, :] - a[:, 0:1]  # (K, N)
    wy = py[None, :] - a[:, 1:2]
    t = np.clip((wx * e[:, 0:1] + wy * e[:, 1:2]) / (e[:, 0:1] ** 2 + e[:, 1:2] ** 2), 0, 1)
    dx, dy = wx - t * e[:, 0:1], wy - t * e[:, 1:2]
    dist = np.sqrt((dx * dx + dy * dy).min(0))  # (N,)
    # even-odd crossing test for the sign
    cond = (a[:, 1:2] > py[None, :]) != (b[:, 1:2] > py[None, :])
    xint = a[:, 0:1] + (py[None, :] - a[:, 1:2]) * e[:, 0:1] / np.where(e[:, 1:2] == 0, 1e-12, e[:, 1:2])
    inside = (cond & (px[None, :] < xint)).sum(0) % 2 == 1
    return np.where(inside, -dist, dist)


def shape_coverage(shape: str, box: tuple[float, float, float, float], size: int) -> tuple[np.ndarray, tuple]:
    """Anti-aliased coverage in [0, 1] of one shape filling ``box``, cropped to the box's pixel window.

    Returns ``(coverage (h, w), (r0, r1, c0, c1))`` so callers composite only that window.
    """
    x0, y0, x1, y1 = (v * size for v in box)
    c0, c1 = max(int(math.floor(x0)) - 1, 0), min(int(math.ceil(x1)) + 1, size)
    r0, r1 = max(int(math.floor(y0)) - 1, 0), min(int(math.ceil(y1)) + 1, size)
    ys, xs = np.mgrid[r0:r1, c0:c1].astype(np.float64) + 0.5
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    u, v = (xs - cx) / hw, (ys - cy) / hh  # unit-box coordinates
    poly = shape_polygon(shape)
    if poly is None:
        sdf = (np.sqrt(u * u + v * v) - 1) * min(hw, hh)
    else:
        sdf = _polygon_sdf(u.ravel(), v.ravel(), poly).reshape(u.shape) * min(hw, hh)
    return np.clip(0.5 - sdf, 0.0, 1.0), (r0, r1, c0, c1)


def texture_pattern(texture: str, window: tuple, size: int) -> np.ndarray:
    """Brightness factor (h, w) for a texture over a pixel window: 1 where the colour shows fully."""
    r0, r1, c0, c1 = window
    ys, xs = np.mgrid[r0:r1, c0:c1].astype(np.float64)
    period = max(size / 16, 2.0)
    if texture == "plain":
        return np.ones_like(xs)
    if texture == "striped":
        return np.where(((xs + ys) / period) % 2 < 1, 1.0, 0.45)
    if texture == "dotted":
        fx, fy = (xs / period) % 2 - 1, (ys / period) % 2 - 1
        return np.where(fx * fx + fy * fy < 0.35, 0.45, 1.0)
    raise ValueError(f"unknown texture {texture!r}")


def _paint(
    img: np.ndarray, mask: np.ndarray, obj_index: int, shape: str, color: str, texture: str, box, size: int
) -> None:
    cov, win = shape_coverage(shape, box, size)
    r0, r1, c0, c1 = win
    rgb = np.asarray(COLORS[color])[:, None, None] * texture_pattern(texture, win, size)[None]  # (3, h, w)
    region = img[:, r0:r1, c0:c1]
    img[:, r0:r1, c0:c1] = region * (1 - cov[None]) + rgb * cov[None]
    if mask is not None:
        mask[r0:r1, c0:c1][cov >= 0.5] = obj_index


def paint_object(
    img: np.ndarray, mask: np.ndarray | None, obj_index: int, obj: ObjectSpec, size: int
) -> None:
    """Composite one object into ``img`` (3, H, W) in place; write ``obj_index`` into ``mask`` (H, W)."""
    d = obj.emblem_design
    if d is None:
        _paint(img, mask, obj_index, obj.shape, obj.color, obj.texture, obj.box, size)
        return
    _paint(img, mask, obj_index, d.outer_shape, d.outer_color, d.outer_texture, obj.box, size)
    x0, y0, x1, y1 = obj.box
    cx, cy, hw, hh = (
        (x0 + x1) / 2,
        (y0 + y1) / 2,
        (x1 - x0) / 2 * d.inner_scale,
        (y1 - y0) / 2 * d.inner_scale,
    )
    _paint(
        img,
        None,
        obj_index,
        d.inner_shape,
        d.inner_color,
        "plain",
        (cx - hw, cy - hh, cx + hw, cy + hh),
        size,
    )


def render_scene(scene: Scene, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Render a scene.

    Returns:
        image: float32 array of shape (3, size, size) in [0, 1].
        mask: int64 array of shape (size, size): 0 for the background, ``i + 1`` for object ``i``.
    """
    if size < 16:
        raise ValueError(f"image size must be at least 16 pixels, got {size}")
    img = np.empty((3, size, size), dtype=np.float64)
    img[:] = np.asarray(scene.background)[:, None, None]
    mask = np.zeros((size, size), dtype=np.int64)
    for i, obj in enumerate(scene.objects):
        paint_object(img, mask, i + 1, obj, size)
    return np.clip(img, 0, 1).astype(np.float32), mask
