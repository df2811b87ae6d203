"""Bootstrap confidence intervals for aggregate numbers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class ConfidenceInterval:
    """An estimate with a percentile-bootstrap interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    n: int
    n_resamples: int
    method: str = "percentile bootstrap"

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.estimate:.4g} [{self.low:.4g}, {self.high:.4g}]"


def bootstrap_ci(
    values: torch.Tensor | np.ndarray | list[float],
    statistic: Callable[[np.ndarray], np.ndarray] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ConfidenceInterval:
    """Percentile bootstrap interval of ``statistic`` (default: the mean) over per-item values.

    Args:
        values: N per-item values (per image, per prompt ...).
        statistic: maps an `(R, N)` array of resamples to `(R,)`; default ``mean(axis=-1)``.
        n_resamples: bootstrap resamples.
        confidence: interval level in (0, 1).
        seed: resampling seed (same seed, same interval).

    Returns:
        :class:`ConfidenceInterval`; ``low == high == estimate`` for a single value, NaN bounds when
        any value is not finite (e.g. an infinite PSNR).
    """
    v = np.asarray(
        values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else values, dtype=np.float64
    )
    v = v.reshape(-1)
    if v.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    stat = statistic or (lambda a: a.mean(axis=-1))
    estimate = float(stat(v[None, :])[0])
    if not np.isfinite(v).all():
        return ConfidenceInterval(estimate, float("nan"), float("nan"), confidence, v.size, 0)
    if v.size == 1:
        return ConfidenceInterval(estimate, estimate, estimate, confidence, 1, 0)
    rng = np.random.default_rng(seed)
    dist = np.empty(n_resamples)
    chunk = max(1, 2**22 // v.size)
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        idx = rng.integers(0, v.size, size=(stop - start, v.size))
        dist[start:stop] = stat(v[idx])
    alpha = (1 - confidence) / 2
    low, high = np.quantile(dist, [alpha, 1 - alpha])
    return ConfidenceInterval(estimate, float(low), float(high), confidence, v.size, n_resamples)
