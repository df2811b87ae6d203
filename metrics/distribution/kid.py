"""Kernel inception distance as an accumulating metric."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from metrics.distribution.features import _preprocessing, features_of
from metrics.functional.kid import kernel_inception_distance


class KernelInceptionDistance(Metric):
    """KID (Bińkowski et al. 2018): unbiased polynomial-kernel MMD^2 over random subsets.

    Features are kept (``cat`` states, gathered in process order) and the subsets come from a
    generator seeded with ``seed``, so the number is reproducible and the same on 1 or N processes.

    Args:
        feature_extractor: ``nn.Module`` mapping [0, 1] images to `(B, D)`, with a ``name``.
        subsets, subset_size: number and size of the random subsets (``subset_size`` is capped at the
            smaller set's size, and the cap is reported).
        degree, gamma, coef: kernel ``(gamma a.b + coef)^degree``; gamma defaults to 1/D.
        seed: subset sampling seed.

    ``compute()`` returns ``(mean, std)`` over subsets.
    """

    full_state_update = False
    higher_is_better = False
    is_differentiable = False
    name = "kid"

    def __init__(
        self,
        feature_extractor: nn.Module | None = None,
        subsets: int = 100,
        subset_size: int = 1000,
        degree: int = 3,
        gamma: float | None = None,
        coef: float = 1.0,
        seed: int = 0,
        extractor_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.extractor = feature_extractor.eval() if feature_extractor is not None else None
        self.extractor_name = (
            extractor_name or getattr(feature_extractor, "name", None) or "precomputed features"
        )
        self.subsets, self.subset_size = int(subsets), int(subset_size)
        self.degree, self.gamma, self.coef, self.seed = degree, gamma, coef, seed
        self.add_state("real_features", default=[], dist_reduce_fx="cat")
        self.add_state("fake_features", default=[], dist_reduce_fx="cat")

    def update(
        self, images: torch.Tensor | None = None, real: bool = True, features: torch.Tensor | None = None
    ) -> None:
        """Accumulate images (through the extractor) or precomputed ``features`` `(B, D)`."""
        if features is None:
            if self.extractor is None or images is None:
                raise RuntimeError("this KernelInceptionDistance has no feature extractor; pass features=")
            features = features_of(self.extractor, images)
        f = features.to(torch.float64).flatten(1)
        if not bool(torch.isfinite(f).all()):
            raise ValueError("features contain NaN or infinite values")
        (self.real_features if real else self.fake_features).append(f)

    def update_features(self, features: torch.Tensor, real: bool) -> None:
        """Accumulate precomputed features `(B, D)` (same as ``update(features=..., real=...)``)."""
        self.update(features=features, real=real)

    def _sizes(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        real, fake = dim_zero_cat(self.real_features), dim_zero_cat(self.fake_features)
        return real, fake, min(self.subset_size, real.shape[0], fake.shape[0])

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        real, fake, size = self._sizes()
        g = torch.Generator().manual_seed(self.seed)
        return kernel_inception_distance(
            real.cpu(), fake.cpu(), self.subsets, size, self.degree, self.gamma, self.coef, generator=g
        )

    def describe(self) -> dict[str, Any]:
        def count(state) -> int:
            if isinstance(state, torch.Tensor):
                return int(state.shape[0])
            return sum(int(t.shape[0]) for t in state)

        n_real, n_fake = count(self.real_features), count(self.fake_features)
        size = min(self.subset_size, n_real, n_fake)
        return {
            "metric": self.name,
            "feature_extractor": self.extractor_name,
            "preprocessing": _preprocessing(self.extractor),
            "n_real": n_real,
            "n_generated": n_fake,
            "subsets": self.subsets,
            "subset_size": size,
            "kernel": f"(gamma x.y + {self.coef})^{self.degree}, gamma={'1/D' if self.gamma is None else self.gamma}",
            "seed": self.seed,
        }
