"""Mean squared error per image."""

from __future__ import annotations

import torch

from metrics.checks import check_data_range, check_images, check_pair


def mean_squared_error(
    preds: torch.Tensor, target: torch.Tensor, data_range: float | tuple[float, float] = 1.0
) -> torch.Tensor:
    """Mean of squared pixel differences of each image pair (``skimage.metrics.mean_squared_error``).

    Args:
        preds, target (`torch.Tensor` of shape `(B, C, H, W)`): images with values in ``data_range``.
        data_range: declared value range (a width ``L`` for [0, L] or ``(low, high)``); checked, and
            the MSE is in those units (not normalised).

    Returns:
        `torch.Tensor` of shape `(B,)`, float64, values >= 0.

    Example:
        >>> mean_squared_error(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5)).tolist()
        [0.25]
    """
    low, high = check_data_range(data_range)
    check_images(preds, "preds", (low, high), channels=None)
    check_images(target, "target", (low, high), channels=None)
    check_pair(preds, target)
    if preds.dtype == torch.float64 or target.dtype == torch.float64:
        diff = preds.to(torch.float64) - target.to(torch.float64)  # (B, C, H, W)
    else:
        diff = preds.float() - target.float()  # float32 squares are exact to ~1e-7 relative
    return diff.square_().flatten(1).mean(dim=1).to(torch.float64)
