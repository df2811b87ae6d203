"""Structural similarity (SSIM), batched, matching scikit-image's ``structural_similarity``."""

from __future__ import annotations

import torch

from metrics.checks import check_data_range, check_images, check_pair
from metrics.functional._filter import (
    chunk_size_for,
    filter_cols,
    filter_rows,
    gaussian_window,
    uniform_window,
)


def ssim_window(
    gaussian_weights: bool = True,
    sigma: float = 1.5,
    win_size: int | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """The 1-D window scikit-image would use: Gaussian (``sigma``, truncated at 3.5 sigma, so 11 taps
    for 1.5; ``win_size`` is then ignored as in scikit-image) or uniform (``win_size``, default 7)."""
    if gaussian_weights:
        return gaussian_window(sigma, truncate=3.5, dtype=dtype)
    return uniform_window(7 if win_size is None else win_size, dtype=dtype)


def ssim_components(
    preds: torch.Tensor,
    target: torch.Tensor,
    window: torch.Tensor,
    data_range: float,
    k1: float = 0.01,
    k2: float = 0.03,
    use_sample_covariance: bool = False,
    with_cs: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per image and channel, the mean SSIM and mean contrast-structure term over the valid region.

    Args:
        preds, target (`torch.Tensor` of shape `(B, C, H, W)`): images, already checked.
        window (`torch.Tensor` of shape `(K,)`): 1-D window (see :func:`ssim_window`).
        data_range: the width of the value range (``L`` in ``C1 = (k1 L)^2``).

    Returns:
        ``(ssim, cs)``, each `torch.Tensor` of shape `(B, C)` (``cs`` is ``None`` unless ``with_cs``).
    """
    b, c, h, w = preds.shape
    k = window.numel()
    p = b * c
    cov_norm = k * k / (k * k - 1.0) if use_sample_covariance else 1.0
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    # Four maps: x, y, x^2 + y^2, xy (SSIM needs only var_x + var_y). Maps go on the batch axis and
    # the B*C image planes on the channel axis of a channels-last tensor: the depthwise convolution is
    # fastest in that layout, and each filtered map is then one contiguous (H', W', B*C) block.
    buf = torch.empty(4, h, w, p, dtype=preds.dtype, device=preds.device)
    buf[0].copy_(preds.permute(2, 3, 0, 1).reshape(h, w, p))
    buf[1].copy_(target.permute(2, 3, 0, 1).reshape(h, w, p))
    torch.mul(buf[0], buf[0], out=buf[2])
    buf[2].addcmul_(buf[1], buf[1])
    torch.mul(buf[0], buf[1], out=buf[3])
    # Each pass's input is freed as soon as it is filtered: fewer large blocks alive at once, so the
    # allocator keeps reusing the same pages instead of faulting fresh ones in for every chunk.
    rows = filter_rows(buf.permute(0, 3, 1, 2), window)  # (4, B*C, H', W), channels-last storage
    del buf
    f = filter_cols(rows, window)  # (4, B*C, H', W')
    del rows
    mx, my, m_sq, m_xy = f.permute(0, 2, 3, 1).unbind(0)  # each (H', W', B*C)
    m2 = mx * mx
    m2.addcmul_(my, my)  # mx^2 + my^2
    var_sum = m_sq.sub_(m2)  # var_x + var_y
    cs_map = m_xy.mul_(2).addcmul_(mx, my, value=-2)  # 2 cov
    if cov_norm != 1.0:
        var_sum.mul_(cov_norm)
        cs_map.mul_(cov_norm)
    cs_map.add_(c2).div_(var_sum.add_(c2))  # (2 cov + C2) / (var_x + var_y + C2)
    lum_map = mx.mul_(my).mul_(2).add_(c1).div_(m2.add_(c1))  # (2 mx my + C1) / (mx^2 + my^2 + C1)
    # float32 reductions use cascade summation: exact to ~1e-7 without a float64 copy of the maps.
    cs = cs_map.mean(dim=(0, 1)).to(torch.float64).view(b, c) if with_cs else None
    ssim = lum_map.mul_(cs_map).mean(dim=(0, 1)).to(torch.float64).view(b, c)
    return ssim, cs


def structural_similarity(
    preds: torch.Tensor,
    target: torch.Tensor,
    data_range: float | tuple[float, float] = 1.0,
    gaussian_weights: bool = True,
    sigma: float = 1.5,
    win_size: int | None = None,
    use_sample_covariance: bool = False,
    k1: float = 0.01,
    k2: float = 0.03,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """SSIM of each image pair, the original definition (Wang et al. 2004) by default.

    With the defaults this equals ``skimage.metrics.structural_similarity(p, t, channel_axis=-1,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=...)`` per image: a
    Gaussian window (sigma 1.5, 11 taps), the SSIM map averaged over the region the window fully
    covers, then over channels.

    Args:
        preds (`torch.Tensor` of shape `(B, C, H, W)`): images with values in ``data_range``.
        target (`torch.Tensor` of shape `(B, C, H, W)`): reference images, same range.
        data_range: the value range, never guessed: a width ``L`` for values in ``[0, L]`` (1.0 for
            [0, 1] images, 255.0 for 8-bit values) or ``(low, high)``. Values outside raise.
        gaussian_weights: Gaussian window (True) or uniform ``win_size`` box (False).
        sigma: Gaussian standard deviation.
        win_size: uniform window size (odd, default 7); ignored with Gaussian weights.
        use_sample_covariance: normalise covariances by ``N - 1`` instead of ``N``.
        k1, k2: the stabilising constants.
        dtype: compute precision (float32 keeps values within 1e-5 of float64 here).

    Returns:
        `torch.Tensor` of shape `(B,)`, float64, values in [-1, 1] (1 for identical images).

    Example:
        >>> x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> structural_similarity(x, x).tolist()
        [1.0, 1.0]
    """
    low, high = check_data_range(data_range)
    check_images(preds, "preds", (low, high), channels=None)
    check_images(target, "target", (low, high), channels=None)
    check_pair(preds, target)
    window = ssim_window(gaussian_weights, sigma, win_size, dtype=dtype)
    if min(preds.shape[-2:]) < window.numel():
        raise ValueError(
            f"SSIM needs images of at least {window.numel()}x{window.numel()} pixels for this window, "
            f"got {tuple(preds.shape[-2:])}; use a smaller sigma or win_size"
        )
    b, c, h, w = preds.shape
    step = chunk_size_for(h, w, 4 * c, channels=c)
    out = []
    for i in range(0, b, step):
        s, _ = ssim_components(
            preds[i : i + step].to(dtype),
            target[i : i + step].to(dtype),
            window,
            data_range=high - low,
            k1=k1,
            k2=k2,
            use_sample_covariance=use_sample_covariance,
            with_cs=False,
        )
        out.append(s.mean(dim=1))  # (b,) mean over channels
    return torch.cat(out)
