"""SSIM as an accumulating metric."""

from __future__ import annotations

from typing import Any

import torch

from metrics.base import PerItemMetric
from metrics.checks import check_data_range
from metrics.functional.ssim import structural_similarity


class SSIM(PerItemMetric):
    """Mean SSIM over image pairs, the original definition by default (equal to scikit-image's
    ``structural_similarity(..., channel_axis=-1, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=...)``; see :func:`metrics.functional.structural_similarity`).

    Args:
        data_range: the declared value range: a width ``L`` for values in [0, L] or ``(low, high)``.
            Required in spirit: the default 1.0 is for [0, 1] images; values outside raise.
        gaussian_weights, sigma, win_size, use_sample_covariance, k1, k2: SSIM settings, reported by
            :meth:`describe`.

    Inputs to ``update``:
        preds, target (`torch.Tensor` of shape `(B, C, H, W)`), at least 11x11 pixels with the default window.

    Example:
        >>> m = SSIM(data_range=1.0)
        >>> x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> m.update(x, x)
        >>> float(m.compute())
        1.0
    """

    name = "ssim"
    higher_is_better = True
    is_differentiable = True

    def __init__(
        self,
        data_range: float | tuple[float, float] = 1.0,
        gaussian_weights: bool = True,
        sigma: float = 1.5,
        win_size: int | None = None,
        use_sample_covariance: bool = False,
        k1: float = 0.01,
        k2: float = 0.03,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_range = check_data_range(data_range)
        self.gaussian_weights = gaussian_weights
        self.sigma = sigma
        self.win_size = win_size
        self.use_sample_covariance = use_sample_covariance
        self.k1, self.k2 = k1, k2

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self._append(self.forward_values(preds, target))

    def forward_values(self, preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-pair SSIM without accumulating: `(B,)`."""
        return structural_similarity(
            preds,
            target,
            data_range=self.data_range,
            gaussian_weights=self.gaussian_weights,
            sigma=self.sigma,
            win_size=self.win_size,
            use_sample_covariance=self.use_sample_covariance,
            k1=self.k1,
            k2=self.k2,
        )

    def settings(self) -> dict[str, Any]:
        window = (
            {"window": "gaussian", "sigma": self.sigma, "truncate": 3.5}
            if self.gaussian_weights
            else {"window": "uniform", "win_size": self.win_size or 7}
        )
        return {
            "data_range": list(self.data_range),
            **window,
            "use_sample_covariance": self.use_sample_covariance,
            "k1": self.k1,
            "k2": self.k2,
            "colour": "mean over channels",
            "border": "valid region only (window fully inside the image)",
        }
