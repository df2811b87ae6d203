"""Small tensor operations shared by the attacks (no torchvision)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def check_images(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Validate a batch of images: a float tensor ``(B, 3, H, W)`` with values in [0, 1].

    Raises:
        TypeError / ValueError naming what was wrong and what is expected.
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (B, 3, H, W) in [0, 1], got {type(images).__name__}"
        )
    if images.ndim != 4 or images.shape[1] != 3:
        hint = (
            " (drop the alpha channel first: images[:, :3])"
            if images.ndim == 4 and images.shape[1] == 4
            else ""
        )
        raise ValueError(f"{name} must have shape (B, 3, H, W), got {tuple(images.shape)}{hint}")
    if not images.is_floating_point():
        raise TypeError(
            f"{name} must be a float tensor in [0, 1], got dtype {images.dtype} (divide uint8 by 255)"
        )
    if images.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(images.shape)}")
    lo, hi = float(images.min()), float(images.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} contains NaN or inf")
    if lo < -1e-4 or hi > 1 + 1e-4:
        raise ValueError(
            f"{name} must be in [0, 1], got values in [{lo:.3g}, {hi:.3g}] (map [-1, 1] with (x + 1) / 2)"
        )
    return images


def to_uint8_hwc(image: torch.Tensor) -> np.ndarray:
    """One image ``(3, H, W)`` in [0, 1] -> ``(H, W, 3)`` uint8 (rounded)."""
    return (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def from_uint8_hwc(array: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> ``(3, H, W)`` float in [0, 1]."""
    return torch.from_numpy(np.array(array, dtype=np.uint8)).permute(2, 0, 1).float() / 255.0


def to_pil(image: torch.Tensor) -> Image.Image:
    """One image ``(3, H, W)`` in [0, 1] -> an RGB PIL image."""
    return Image.fromarray(to_uint8_hwc(image), mode="RGB")


def resize(images: torch.Tensor, size: tuple[int, int], mode: str = "bicubic") -> torch.Tensor:
    """Resize ``(B, 3, H, W)`` to ``(B, 3, *size)``, antialiased when shrinking, clamped to [0, 1]."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    align = False if mode in ("bilinear", "bicubic") else None
    out = F.interpolate(
        images.float(), size=size, mode=mode, align_corners=align, antialias=mode in ("bilinear", "bicubic")
    )
    return out.clamp(0, 1).to(images.dtype)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflect padding; kernel size ``2 * ceil(3 sigma) + 1``."""
    if sigma <= 0:
        return images
    radius = max(1, int(np.ceil(3 * sigma)))
    radius = min(radius, min(images.shape[-2:]) - 1)
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=images.device)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()  # (k,)
    c = images.shape[1]
    out = F.pad(images.float(), (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)  # horizontal
    out = F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)  # vertical
    return out.to(images.dtype)
