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
    return filter_cols(filter_rows(planes, window, channels_last), window, channels_last)


def _check_size(planes: torch.Tensor, window: torch.Tensor) -> None:
    h, w = planes.shape[-2:]
    k = window.numel()
    if h < k or w < k:
        raise ValueError(f"images of {h}x{w} pixels are smaller than the {k}x{k} window")


def _depthwise(planes: torch.Tensor, window: torch.Tensor, shape: tuple[int, int], channels_last: bool):
    p = planes.shape[1]
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    win = window.to(device=planes.device, dtype=planes.dtype)
    weight = win.view(1, 1, *shape).expand(p, 1, *shape).contiguous(memory_format=fmt)
    x = planes.contiguous(memory_format=fmt)  # no copy when already in that layout
    return F.conv2d(x, weight, groups=p)  # depthwise, same layout as the input


def filter_rows(
    planes: torch.Tensor, window: torch.Tensor, channels_last: bool = CHANNELS_LAST
) -> torch.Tensor:
    """The first half of :func:`filter_valid`: `(N, P, H, W)` -> `(N, P, H - K + 1, W)` (along H)."""
    _check_size(planes, window)
    return _depthwise(planes, window, (window.numel(), 1), channels_last)


def filter_cols(
    planes: torch.Tensor, window: torch.Tensor, channels_last: bool = CHANNELS_LAST
) -> torch.Tensor:
    """The second half of :func:`filter_valid`: `(N, P, H', W)` -> `(N, P, H', W - K + 1)` (along W)."""
    if planes.shape[-1] < window.numel():
        raise ValueError(
            f"images {planes.shape[-1]} pixels wide are narrower than the {window.numel()}-tap window"
        )
    return _depthwise(planes, window, (1, window.numel()), channels_last)


# Channels-last depthwise convolution vectorises over the planes of a pixel: fewer than 8 float32 planes
# leave an AVX2 register part empty (2 RGB images, 6 planes, filter 1.5x slower per image than 3).
MIN_PLANES = 8


def chunk_size_for(
    height: int, width: int, planes: int, budget: int = 2**21, channels: int | None = None
) -> int:
    """How many images to filter at once so one chunk stays near ``budget`` elements (cache sized),
    but with at least :data:`MIN_PLANES` image planes (``channels`` per image) when ``channels`` is given."""
    step = max(1, math.floor(budget / max(1, height * width * planes)))
    if channels:
        step = max(step, math.ceil(MIN_PLANES / channels))
    return step
