"""Separable 'valid' window filtering of image planes, the building block of SSIM and MS-SSIM."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CHANNELS_LAST = True  # depthwise convolution is fastest channels-last on CPU


def gaussian_window(sigma: float, truncate: float = 3.5, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The normalised 1-D Gaussian window of ``scipy.ndimage.gaussian_filter`` (and so scikit-image).

    Args:
        sigma: standard deviation in pixels.
        truncate: the window radius is ``int(truncate * sigma + 0.5)``.

    Returns:
        `torch.Tensor` of shape `(2 * radius + 1,)` summing to 1 (11 taps for sigma 1.5).
    """
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return (w / w.sum()).to(dtype)


def uniform_window(size: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A 1-D box window of ``size`` taps (``scipy.ndimage.uniform_filter``)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"win_size must be odd and positive, got {size}")
    return torch.full((size,), 1.0 / size, dtype=dtype)


def filter_valid(
    planes: torch.Tensor, window: torch.Tensor, channels_last: bool = CHANNELS_LAST
) -> torch.Tensor:
    """Filter every plane with ``window`` along H then W, keeping only the fully covered region.

    Equals ``scipy.ndimage.gaussian_filter`` / ``uniform_filter`` followed by cropping ``len(window) // 2``
    pixels on each side (what scikit-image's SSIM averages over), whatever the border mode.

    Args:
        planes (`torch.Tensor` of shape `(N, P, H, W)`): ``P`` independent planes per item.
        window (`torch.Tensor` of shape `(K,)`): 1-D weights.

    Returns:
        `torch.Tensor` of shape `(N, P, H - K + 1, W - K + 1)` (channels-last storage by default).
    """
    n, p, h, w = planes.shape
    k = window.numel()
    if h < k or w < k:
        raise ValueError(f"images of {h}x{w} pixels are smaller than the {k}x{k} window")
    win = window.to(device=planes.device, dtype=planes.dtype)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = planes.contiguous(memory_format=fmt)  # no copy when already in that layout
    wv = win.view(1, 1, k, 1).expand(p, 1, k, 1).contiguous(memory_format=fmt)
    wh = win.view(1, 1, 1, k).expand(p, 1, 1, k).contiguous(memory_format=fmt)
    x = F.conv2d(x, wv, groups=p)  # (N, P, H - K + 1, W)  depthwise
    return F.conv2d(x, wh, groups=p)  # (N, P, H - K + 1, W - K + 1), same layout as the input


def chunk_size_for(height: int, width: int, planes: int, budget: int = 2**21) -> int:
    """How many images to filter at once so one chunk stays near ``budget`` elements (cache sized)."""
    return max(1, math.floor(budget / max(1, height * width * planes)))
