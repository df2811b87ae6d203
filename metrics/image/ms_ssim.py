"""MS-SSIM as an accumulating metric."""

from __future__ import annotations

from typing import Any

import torch

from metrics.base import PerItemMetric
from metrics.checks import check_data_range
from metrics.functional.ms_ssim import MS_SSIM_BETAS, multiscale_structural_similarity


class MSSSIM(PerItemMetric):
    """Mean multi-scale SSIM over image pairs (see :func:`metrics.functional.multiscale_structural_similarity`).

    Args:
        data_range: declared value range (width or ``(low, high)``).
        betas: per-scale exponents; 5 scales need images >= 176x176.
        sigma, k1, k2: SSIM settings.

    Inputs to ``update``:
        preds, target (`torch.Tensor` of shape `(B, C, H, W)`) with values in ``data_range``.
    """

    name = "ms_ssim"
    higher_is_better = True
    is_differentiable = True

    def __init__(
        self,
        data_range: float | tuple[float, float] = 1.0,
        betas: tuple[float, ...] = MS_SSIM_BETAS,
        sigma: float = 1.5,
        k1: float = 0.01,
        k2: float = 0.03,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_range = check_data_range(data_range)
        self.betas = tuple(float(b) for b in betas)
        self.sigma, self.k1, self.k2 = sigma, k1, k2

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self._append(self.forward_values(preds, target))

    def forward_values(self, preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return multiscale_structural_similarity(
            preds,
            target,
            data_range=self.data_range,
            betas=self.betas,
            sigma=self.sigma,
            k1=self.k1,
            k2=self.k2,
        )

    def settings(self) -> dict[str, Any]:
        return {
            "data_range": list(self.data_range),
            "betas": list(self.betas),
            "window": "gaussian",
            "sigma": self.sigma,
            "downsampling": "2x2 average pooling",
            "negative_terms": "clamped at 0",
        }
