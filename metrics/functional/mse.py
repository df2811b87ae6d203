"""Mean squared error per image."""

from __future__ import annotations

import torch

from metrics.checks import check_data_range, check_images, check_pair

CHUNK_ELEMENTS = 2**20  # differences computed per chunk (4 MB in float32)


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
    dtype = torch.float64 if torch.float64 in (preds.dtype, target.dtype) else torch.float32
    # float32 squares are exact to ~1e-7 relative. The differences go through one cache-sized buffer,
    # chunk by chunk, instead of a fresh (B, C, H, W) block whose pages are faulted in on every call.
    b = preds.shape[0]
    p, t = preds.reshape(b, -1), target.reshape(b, -1)  # (B, C*H*W)
    step = max(1, CHUNK_ELEMENTS // p.shape[1])
    buf = torch.empty(min(step, b), p.shape[1], dtype=dtype, device=preds.device)
    out = torch.empty(b, dtype=torch.float64, device=preds.device)
    for i in range(0, b, step):
        d = buf[: min(step, b - i)]
        torch.sub(p[i : i + step].to(dtype), t[i : i + step].to(dtype), out=d)
        out[i : i + step] = d.square_().mean(dim=1)
    return out
