"""Multi-scale structural similarity (MS-SSIM, Wang, Simoncelli and Bovik 2003)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from metrics.checks import check_data_range, check_images, check_pair
from metrics.functional.ssim import ssim_components, ssim_window

MS_SSIM_BETAS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def multiscale_structural_similarity(
    preds: torch.Tensor,
    target: torch.Tensor,
    data_range: float | tuple[float, float] = 1.0,
    betas: tuple[float, ...] = MS_SSIM_BETAS,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """MS-SSIM of each image pair.

    At scale ``j = 1..M`` (``M = len(betas)``) the images are 2x2 average pooled ``j - 1`` times; the
    contrast-structure term ``cs_j`` of scales ``1..M-1`` and the full SSIM of scale ``M`` are each
    averaged over the region the Gaussian window fully covers (as in :func:`structural_similarity`)
    and over channels, clamped at 0 (negative terms would make fractional powers undefined; the
    TensorFlow convention), and combined as ``prod_j cs_j^beta_j * ssim_M^beta_M``.

    Args:
        preds, target (`torch.Tensor` of shape `(B, C, H, W)`): images with values in ``data_range``.
        data_range: declared value range (width ``L`` for [0, L], or ``(low, high)``).
        betas: per-scale exponents; the default 5 scales need images of at least 176x176 pixels
            (the 11-tap window must fit at the coarsest scale); pass fewer betas for smaller images.
        sigma, k1, k2: as in SSIM.

    Returns:
        `torch.Tensor` of shape `(B,)`, float64, values in [0, 1].
    """
    low, high = check_data_range(data_range)
    check_images(preds, "preds", (low, high), channels=None)
    check_images(target, "target", (low, high), channels=None)
    check_pair(preds, target)
    if len(betas) < 1:
        raise ValueError("betas must hold at least one exponent")
    window = ssim_window(True, sigma, dtype=dtype)
    k = window.numel()
    need = k * 2 ** (len(betas) - 1)
    if min(preds.shape[-2:]) < need:
        raise ValueError(
            f"MS-SSIM with {len(betas)} scales and a {k}-tap window needs images of at least {need}x{need} "
            f"pixels, got {tuple(preds.shape[-2:])}; pass fewer betas (e.g. betas=MS_SSIM_BETAS[:3])"
        )
    x, y = preds.to(dtype), target.to(dtype)
    weights = torch.tensor(betas, dtype=torch.float64, device=preds.device)
    terms = []
    for j in range(len(betas)):
        ssim, cs = ssim_components(x, y, window, data_range=high - low, k1=k1, k2=k2)
        last = j == len(betas) - 1
        terms.append((ssim if last else cs).mean(dim=1).clamp_min(0.0))  # (B,)
        if not last:
            x = F.avg_pool2d(x, 2)  # (B, C, H/2, W/2)
            y = F.avg_pool2d(y, 2)
    stacked = torch.stack(terms, dim=0)  # (M, B)
    return torch.prod(stacked ** weights[:, None], dim=0)
