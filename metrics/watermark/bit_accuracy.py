"""Bit accuracy of decoded watermark messages as an accumulating metric."""

from __future__ import annotations

from typing import Any

import torch

from metrics.base import PerItemMetric
from metrics.functional.bit_accuracy import binomial_p_value, matching_bits


class BitAccuracy(PerItemMetric):
    """Mean fraction of correctly decoded bits, with a per-image binomial p-value and a decision.

    Args:
        n_bits: message length K (checked on every update).
        alpha: an image is "detected" when its p-value (chance of matching this well without the
            watermark) is <= ``alpha``.

    Inputs to ``update``:
        decoded (`torch.Tensor` of shape `(B, K)`): decoded bits (0/1 or bool);
        key (`torch.Tensor` of shape `(K,)` or `(B, K)`): the embedded message.
    """

    name = "bit_accuracy"
    higher_is_better = True
    is_differentiable = False

    def __init__(self, n_bits: int, alpha: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if n_bits < 1:
            raise ValueError(f"n_bits must be >= 1, got {n_bits}")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
        self.n_bits, self.alpha = int(n_bits), float(alpha)

    def update(self, decoded: torch.Tensor, key: torch.Tensor) -> None:
        decoded = torch.as_tensor(decoded)
        if decoded.ndim != 2 or decoded.shape[1] != self.n_bits:
            raise ValueError(f"decoded must be (B, {self.n_bits}), got {tuple(decoded.shape)}")
        self._append(matching_bits(decoded, key).to(torch.float64) / self.n_bits)

    def p_values(self) -> torch.Tensor:
        """Per-image one-sided binomial p-values `(N,)`."""
        matches = torch.round(self.per_item() * self.n_bits).to(torch.int64)
        return binomial_p_value(matches, self.n_bits)

    def detected(self) -> torch.Tensor:
        """Per-image decisions `(N,)` bool: p-value <= alpha."""
        return self.p_values() <= self.alpha

    def settings(self) -> dict[str, Any]:
        return {"n_bits": self.n_bits, "alpha": self.alpha, "p_value": "one-sided binomial, p=0.5 per bit"}
