"""Kernel inception distance: unbiased MMD^2 with the cubic polynomial kernel, over random subsets."""

from __future__ import annotations

import torch


def polynomial_mmd2(
    x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: float | None = None, coef: float = 1.0
) -> torch.Tensor:
    """Unbiased MMD^2 between feature sets with ``k(a, b) = (gamma a.b + coef)^degree``.

    Args:
        x (`torch.Tensor` of shape `(M, D)`), y (`torch.Tensor` of shape `(N, D)`): features, M, N >= 2.
        gamma: default ``1 / D`` (Bińkowski et al. 2018).

    Returns:
        scalar float64 (may be slightly negative for identical distributions).
    """
    x, y = x.to(torch.float64), y.to(torch.float64)
    m, n, d = x.shape[0], y.shape[0], x.shape[1]
    if m < 2 or n < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {m} and {n}")
    g = 1.0 / d if gamma is None else gamma
    kxx = (g * x @ x.T + coef) ** degree  # (M, M)
    kyy = (g * y @ y.T + coef) ** degree  # (N, N)
    kxy = (g * x @ y.T + coef) ** degree  # (M, N)
    sum_xx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    sum_yy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return sum_xx + sum_yy - 2 * kxy.mean()


def kernel_inception_distance(
    real: torch.Tensor,
    fake: torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of the polynomial MMD^2 over ``subsets`` random subsets.

    Subsets are drawn without replacement within a subset, from ``generator`` (seeded: the same
    seed gives the same number). ``subset_size`` larger than a set raises.

    Returns:
        ``(mean, std)``, float64 scalars (std is 0 for one subset).
    """
    if subset_size > real.shape[0] or subset_size > fake.shape[0]:
        raise ValueError(
            f"subset_size {subset_size} is larger than the feature sets ({real.shape[0]} real, {fake.shape[0]} "
            "generated); lower subset_size"
        )
    values = []
    for _ in range(subsets):
        i = torch.randperm(real.shape[0], generator=generator)[:subset_size]
        j = torch.randperm(fake.shape[0], generator=generator)[:subset_size]
        values.append(polynomial_mmd2(real[i], fake[j], degree, gamma, coef))
    v = torch.stack(values)
    return v.mean(), (v.std(unbiased=False) if subsets > 1 else torch.zeros((), dtype=torch.float64))
