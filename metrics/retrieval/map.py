"""Mean average precision as an accumulating metric."""

from __future__ import annotations

from typing import Any

import torch

from metrics.base import PerItemMetric
from metrics.functional.retrieval import average_precision


class MeanAveragePrecision(PerItemMetric):
    """Mean over queries of average precision.

    Inputs to ``update``:
        scores (`torch.Tensor` of shape `(Q, N)`), relevance (`(Q, N)` bool, >= 1 relevant per query).
    """

    name = "map"
    higher_is_better = True
    is_differentiable = False

    def update(self, scores: torch.Tensor, relevance: torch.Tensor) -> None:
        self._append(average_precision(scores, relevance))

    def settings(self) -> dict[str, Any]:
        return {"ties": "lower item index ranks first"}
