"""PSNR as an accumulating metric."""

from __future__ import annotations

from typing import Any

import torch

from metrics.base import PerItemMetric
from metrics.checks import check_data_range
from metrics.functional.psnr import peak_signal_noise_ratio


class PSNR(PerItemMetric):
    """Mean over image pairs of the per-image PSNR in dB (what a loop of
    ``skimage.metrics.peak_signal_noise_ratio`` averages; not the PSNR of the pooled MSE).

    Args:
        data_range: declared value range, never inferred (1.0 for [0, 1] images, 255.0 for 8-bit values).

    Inputs to ``update``:
        preds, target (`torch.Tensor` of shape `(B, C, H, W)`) with values in ``data_range``. A pair of
        identical images has PSNR ``inf`` (and so does the mean).

    Example:
        >>> m = PSNR(data_range=1.0)
        >>> m.update(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.1))
        >>> round(float(m.compute()), 6)
        20.0
    """

    name = "psnr"
    unit = "dB"
    higher_is_better = True
    is_differentiable = True

    def __init__(self, data_range: float | tuple[float, float] = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_range = check_data_range(data_range)

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self._append(self.forward_values(preds, target))

    def forward_values(self, preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return peak_signal_noise_ratio(preds, target, data_range=self.data_range)

    def settings(self) -> dict[str, Any]:
        return {"data_range": list(self.data_range), "reduction": "mean of per-image PSNR"}
