"""MSE as an accumulating metric."""

from __future__ import annotations

from typing import Any

import torch

from metrics.base import PerItemMetric
from metrics.checks import check_data_range
from metrics.functional.mse import mean_squared_error


class MSE(PerItemMetric):
    """Mean over image pairs of the per-image mean squared error, in the units of ``data_range``.

    Inputs to ``update``:
        preds, target (`torch.Tensor` of shape `(B, C, H, W)`) with values in ``data_range``.
    """

    name = "mse"
    higher_is_better = False
    is_differentiable = True

    def __init__(self, data_range: float | tuple[float, float] = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_range = check_data_range(data_range)

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self._append(self.forward_values(preds, target))

    def forward_values(self, preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return mean_squared_error(preds, target, data_range=self.data_range)

    def settings(self) -> dict[str, Any]:
        return {"data_range": list(self.data_range)}
