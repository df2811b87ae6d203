"""Input checks shared by every metric: shape, dtype, finiteness and the declared value range.

A metric never guesses a range: the caller states it (``"[0,1]"`` or ``"[-1,1]"`` for images, a
``data_range`` for pixel metrics), and values outside it raise an error instead of producing a number.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

InputRange = Literal["[0,1]", "[-1,1]"]
INPUT_RANGES: dict[str, tuple[float, float]] = {"[0,1]": (0.0, 1.0), "[-1,1]": (-1.0, 1.0)}
# Slack for values produced by float arithmetic (a VAE decode clamped in fp16, a resize overshoot).
RANGE_TOLERANCE = 1e-4


class MetricInputError(ValueError):
    """An input a metric refuses: wrong shape, dtype, range, NaN/inf, or a mismatched pair."""


def parse_input_range(input_range: str) -> tuple[float, float]:
    """``"[0,1]"`` -> ``(0.0, 1.0)``; ``"[-1,1]"`` -> ``(-1.0, 1.0)``; anything else raises."""
    key = str(input_range).replace(" ", "")
    if key not in INPUT_RANGES:
        raise MetricInputError(f"input_range must be one of {sorted(INPUT_RANGES)}, got {input_range!r}")
    return INPUT_RANGES[key]


def check_images(
    images: torch.Tensor,
    name: str = "images",
    value_range: tuple[float, float] = (0.0, 1.0),
    channels: int | None = 3,
    min_size: int = 1,
) -> torch.Tensor:
    """Validate a batch of images and return it unchanged.

    Args:
        images (`torch.Tensor` of shape `(B, C, H, W)`): floating point pixels.
        name: how the error messages call the tensor.
        value_range: inclusive ``(low, high)`` the values must lie in (with a 1e-4 slack).
        channels: required ``C`` (3 for RGB metrics), or ``None`` for any.
        min_size: smallest allowed ``H`` and ``W``.

    Raises:
        MetricInputError: on a non-tensor, integer dtype, wrong rank or channel count, an empty batch,
            images smaller than ``min_size``, NaN/inf values, or values outside ``value_range``.
    """
    if not isinstance(images, torch.Tensor):
        raise MetricInputError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if not images.is_floating_point():
        raise MetricInputError(
            f"{name} must be a floating point tensor with values in {list(value_range)}, got dtype "
            f"{images.dtype}; convert integer images with images.float() / 255 (8-bit) or / 65535 (16-bit)"
        )
    if images.ndim != 4:
        raise MetricInputError(f"{name} must have shape (B, C, H, W), got {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise MetricInputError(f"{name} is an empty batch")
    if channels is not None and images.shape[1] != channels:
        hint = (
            "; grayscale: images.expand(-1, 3, -1, -1); RGBA: composite on a background first"
            if channels == 3
            else ""
        )
        raise MetricInputError(
            f"{name} must have {channels} channels, got shape {tuple(images.shape)} (channels first, (B, C, H, W)){hint}"
        )
    if images.shape[-1] < min_size or images.shape[-2] < min_size:
        raise MetricInputError(
            f"{name} must be at least {min_size}x{min_size} pixels, got {tuple(images.shape)}"
        )
    vmin_t, vmax_t = torch.aminmax(images.detach())  # one pass; NaN and inf propagate into the extremes
    vmin, vmax = float(vmin_t), float(vmax_t)
    if not (math.isfinite(vmin) and math.isfinite(vmax)):
        bad = int((~torch.isfinite(images)).sum())
        raise MetricInputError(f"{name} contains {bad} NaN or infinite values")
    low, high = value_range
    if vmin < low - RANGE_TOLERANCE or vmax > high + RANGE_TOLERANCE:
        raise MetricInputError(
            f"{name} values lie in [{vmin:.4g}, {vmax:.4g}], outside the declared range [{low:g}, {high:g}]; "
            "rescale the images or declare their range (input_range= / data_range=)"
        )
    return images


def check_pair(preds: torch.Tensor, target: torch.Tensor) -> None:
    """Raise :class:`MetricInputError` unless ``preds`` and ``target`` have the same shape."""
    if preds.shape != target.shape:
        raise MetricInputError(
            f"preds and target must have the same shape, got {tuple(preds.shape)} and {tuple(target.shape)}; "
            "resize or crop one of them first"
        )


def check_data_range(data_range: float | tuple[float, float]) -> tuple[float, float]:
    """Turn ``data_range`` (a width such as ``1.0`` / ``255.0``, or ``(low, high)``) into ``(low, high)``.

    A width ``w`` means values in ``[0, w]``. ``data_range`` is never inferred from the data.
    """
    if data_range is None:
        raise MetricInputError("data_range is required (e.g. 1.0 for [0, 1] images, 255.0 for 8-bit values)")
    if isinstance(data_range, (tuple, list)):
        if len(data_range) != 2:
            raise MetricInputError(f"data_range as a tuple must be (low, high), got {data_range!r}")
        low, high = float(data_range[0]), float(data_range[1])
    else:
        low, high = 0.0, float(data_range)
    if not high > low:
        raise MetricInputError(f"data_range must have high > low, got {(low, high)}")
    return low, high
