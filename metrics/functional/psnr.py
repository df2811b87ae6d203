"""Peak signal-to-noise ratio per image."""

from __future__ import annotations

import torch

from metrics.checks import check_data_range
from metrics.functional.mse import mean_squared_error


def peak_signal_noise_ratio(
    preds: torch.Tensor, target: torch.Tensor, data_range: float | tuple[float, float] = 1.0
) -> torch.Tensor:
    """PSNR in dB of each image pair: ``10 log10(L^2 / MSE)`` with ``L`` the width of ``data_range``
    (``skimage.metrics.peak_signal_noise_ratio`` per image).

    Args:
        preds, target (`torch.Tensor` of shape `(B, C, H, W)`): images with values in ``data_range``.
        data_range: declared value range, never inferred (1.0 for [0, 1] images, 255.0 for 8-bit values).

    Returns:
        `torch.Tensor` of shape `(B,)`, float64, in dB; ``inf`` for identical images.

    Example:
        >>> round(peak_signal_noise_ratio(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.1)).item(), 6)
        20.0
    """
    low, high = check_data_range(data_range)
    mse = mean_squared_error(preds, target, (low, high))  # (B,)
    return 10.0 * torch.log10((high - low) ** 2 / mse)
