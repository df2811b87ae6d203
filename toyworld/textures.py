"""Procedural textures: the toy world's stand-in for the textured natural images a Stable Diffusion VAE
sees in training and the shapes world lacks (multi-scale noise, gratings, pixel noise, textured scenes).

Every image is a pure function of its ``torch.Generator``, so training batches are reproducible.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["TEXTURE_KINDS", "texture_batch"]

TEXTURE_KINDS = ("octaves", "grating", "pixel_noise", "overlay")


def _uniform(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=g)


def _octaves(g: torch.Generator, size: int) -> torch.Tensor:
    """Colour value noise summed over random scales from 2 px cells to single pixels: (3, size, size)."""
    out = torch.zeros(3, size, size)
    scales = [s for s in (2, 4, 8, 16, 32, 64) if s <= size] or [size]
    for s in scales:
        if _uniform(g, 1).item() < 0.5:
            continue
        cells = torch.randn(1, 3, s, s, generator=g)
        mode = "nearest" if _uniform(g, 1).item() < 0.5 else "bilinear"
        up = F.interpolate(
            cells, size=(size, size), mode=mode, **({} if mode == "nearest" else {"align_corners": False})
        )
        out += up[0] * _uniform(g, 1).item()
    out = out / out.std().clamp_min(1e-3) * (0.1 + 0.4 * _uniform(g, 1).item())
    return (out + _uniform(g, 3, 1, 1)).clamp(0, 1)


def _grating(g: torch.Generator, size: int) -> torch.Tensor:
    """One to three coloured sinusoidal gratings up to the Nyquist frequency: (3, size, size)."""
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    out = _uniform(g, 3, 1, 1) * 0.5 + 0.25
    for _ in range(int(_uniform(g, 1).item() * 3) + 1):
        theta = _uniform(g, 1).item() * math.pi
        freq = 0.5 * _uniform(g, 1).item() ** 2  # cycles per pixel, dense near low frequencies
        phase = _uniform(g, 1).item() * 2 * math.pi
        wave = torch.sin(2 * math.pi * freq * (xx * math.cos(theta) + yy * math.sin(theta)) + phase)
        out = out + wave * (_uniform(g, 3, 1, 1) - 0.5) * 0.6
    return out.clamp(0, 1)


def _pixel_noise(g: torch.Generator, size: int) -> torch.Tensor:
    """A flat colour with independent per-pixel noise of random strength: (3, size, size)."""
    base = _uniform(g, 3, 1, 1)
    return (base + torch.randn(3, size, size, generator=g) * 0.3 * _uniform(g, 1).item()).clamp(0, 1)


def texture_batch(
    n: int, size: int, generator: torch.Generator, scenes: torch.Tensor | None = None
) -> torch.Tensor:
    """``n`` textures of ``size`` px, kinds drawn uniformly from :data:`TEXTURE_KINDS` (``overlay``, a
    scene from ``scenes`` blended with a texture, needs ``scenes`` and is skipped without them).

    Args:
        n: how many images.
        size: their side in pixels.
        generator: the source of all randomness.
        scenes: (n, 3, size, size) images in [0, 1] to texture for ``overlay``.

    Returns:
        (n, 3, size, size) images in [0, 1].
    """
    if n < 1 or size < 1:
        raise ValueError(f"texture_batch needs n >= 1 and size >= 1, got n={n}, size={size}")
    if scenes is not None and (scenes.shape[0] < n or tuple(scenes.shape[1:]) != (3, size, size)):
        raise ValueError(f"scenes must be ({n}, 3, {size}, {size}) to texture, got {tuple(scenes.shape)}")
    kinds = TEXTURE_KINDS if scenes is not None else TEXTURE_KINDS[:-1]
    out = []
    for i in range(n):
        kind = kinds[int(_uniform(generator, 1).item() * len(kinds))]
        if kind == "octaves":
            out.append(_octaves(generator, size))
        elif kind == "grating":
            out.append(_grating(generator, size))
        elif kind == "pixel_noise":
            out.append(_pixel_noise(generator, size))
        else:
            texture = (
                _octaves(generator, size)
                if _uniform(generator, 1).item() < 0.5
                else _grating(generator, size)
            )
            alpha = 0.2 + 0.5 * _uniform(generator, 1).item()
            out.append((1 - alpha) * scenes[i] + alpha * texture)
    return torch.stack(out)
