"""Fréchet distance between two Gaussians fitted to feature sets."""

from __future__ import annotations

import torch


def _sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric positive semi-definite matrix (eigenvalues clamped at 0)."""
    vals, vecs = torch.linalg.eigh(matrix)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(
    mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor
) -> torch.Tensor:
    """``||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))`` in float64.

    The trace term is computed as ``tr((S1^(1/2) S2 S1^(1/2))^(1/2))`` (a symmetric PSD matrix, so an
    eigendecomposition is stable), which equals the ``scipy.linalg.sqrtm(S1 @ S2)`` trace of the
    reference FID code.

    Args:
        mu1, mu2 (`torch.Tensor` of shape `(D,)`): means.
        sigma1, sigma2 (`torch.Tensor` of shape `(D, D)`): covariances.

    Returns:
        scalar `torch.Tensor`, float64, >= 0 up to rounding.
    """
    mu1, mu2, sigma1, sigma2 = (t.to(torch.float64) for t in (mu1, mu2, sigma1, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.numel(), mu1.numel()):
        raise ValueError(
            f"shape mismatch: mu {tuple(mu1.shape)} / {tuple(mu2.shape)}, sigma {tuple(sigma1.shape)} / {tuple(sigma2.shape)}"
        )
    root1 = _sqrtm_psd((sigma1 + sigma1.T) / 2)
    inner = root1 @ ((sigma2 + sigma2.T) / 2) @ root1
    trace_sqrt = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0).sqrt().sum()
    return (mu1 - mu2).pow(2).sum() + torch.trace(sigma1) + torch.trace(sigma2) - 2 * trace_sqrt


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean `(D,)` and unbiased covariance `(D, D)` (``numpy.cov(rowvar=False)``) of `(N, D)` features."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features must be (N >= 2, D), got {tuple(features.shape)}")
    f = features.to(torch.float64)
    mu = f.mean(dim=0)
    centred = f - mu
    return mu, centred.T @ centred / (f.shape[0] - 1)
