"""Recall@k as an accumulating metric."""

from __future__ import annotations

from typing import Any

import torch

from metrics.base import PerItemMetric
from metrics.functional.retrieval import recall_at_k


class RecallAtK(PerItemMetric):
    """Mean over queries of recall@k (see :func:`metrics.functional.recall_at_k` for the modes).

    Inputs to ``update``:
        scores (`torch.Tensor` of shape `(Q, N)`), relevance (`(Q, N)` bool).
    """

    higher_is_better = True
    is_differentiable = False

    def __init__(self, k: int = 1, mode: str = "hit", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in ("hit", "fraction"):
            raise ValueError(f"mode must be 'hit' or 'fraction', got {mode!r}")
        self.k, self.mode = int(k), mode
        self.name = f"recall@{self.k}"

    def update(self, scores: torch.Tensor, relevance: torch.Tensor) -> None:
        self._append(recall_at_k(scores, relevance, self.k, self.mode))

    def settings(self) -> dict[str, Any]:
        return {"k": self.k, "mode": self.mode, "ties": "lower item index ranks first"}
