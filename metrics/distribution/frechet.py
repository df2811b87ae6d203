"""Fréchet distance (FID with Inception features) as an accumulating metric."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from torchmetrics import Metric

from metrics.distribution.features import _preprocessing, features_of
from metrics.functional.frechet import frechet_distance

logger = logging.getLogger(__name__)
MIN_RECOMMENDED_N = 2048


def _feature_dim(extractor: nn.Module, num_features: int | None) -> int:
    dim = num_features or getattr(extractor, "num_features", None)
    if dim:
        return int(dim)
    probe = torch.zeros(2, 3, 64, 64, device=next(extractor.parameters(), torch.zeros(())).device)
    with torch.no_grad():
        out = extractor(probe)
    return int(out[0].shape[-1] if isinstance(out, (tuple, list)) else out.flatten(1).shape[-1])


class FrechetDistance(Metric):
    """Fréchet distance between the feature distributions of real and generated images.

    Sums of features and of their outer products are accumulated (``sum`` states, float64), so
    memory does not grow with N and processes reduce exactly. The extractor's name, N real / N
    generated and a warning below 2048 images per set are reported by :meth:`describe`.

    Args:
        feature_extractor: any ``nn.Module`` mapping [0, 1] images to `(B, D)` features, with a
            ``name`` (see :mod:`metrics.distribution.features`). ``None`` for :meth:`update_features` only.
        num_features: ``D`` when the extractor does not say (else probed with a dummy batch).
        extractor_name: the name to report (default ``feature_extractor.name``).

    Inputs to ``update``:
        images (`torch.Tensor` of shape `(B, 3, H, W)`) in [0, 1]; real: True for the reference set.
    """

    full_state_update = False
    higher_is_better = False
    is_differentiable = False
    name = "fd"

    def __init__(
        self,
        feature_extractor: nn.Module | None = None,
        num_features: int | None = None,
        extractor_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if feature_extractor is None and num_features is None:
            raise ValueError("give a feature_extractor or num_features (for update_features)")
        self.extractor = feature_extractor.eval() if feature_extractor is not None else None
        self.extractor_name = (
            extractor_name or getattr(feature_extractor, "name", None) or "precomputed features"
        )
        d = num_features or _feature_dim(feature_extractor, None)  # type: ignore[arg-type]
        self.num_features = d
        for side in ("real", "fake"):
            self.add_state(f"{side}_sum", torch.zeros(d, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{side}_outer", torch.zeros(d, d, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{side}_n", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(
        self, images: torch.Tensor | None = None, real: bool = True, features: torch.Tensor | None = None
    ) -> None:
        """Accumulate images (through the extractor) or precomputed ``features`` `(B, D)`."""
        if features is None:
            if self.extractor is None or images is None:
                raise RuntimeError("this FrechetDistance has no feature extractor; pass features=")
            features = features_of(self.extractor, images)
        f = features.to(torch.float64).flatten(1)
        if f.shape[1] != self.num_features:
            raise ValueError(f"features have {f.shape[1]} dimensions, expected {self.num_features}")
        if not bool(torch.isfinite(f).all()):
            raise ValueError("features contain NaN or infinite values")
        side = "real" if real else "fake"
        setattr(self, f"{side}_sum", getattr(self, f"{side}_sum") + f.sum(dim=0))
        setattr(self, f"{side}_outer", getattr(self, f"{side}_outer") + f.T @ f)
        setattr(self, f"{side}_n", getattr(self, f"{side}_n") + f.shape[0])

    def update_features(self, features: torch.Tensor, real: bool) -> None:
        """Accumulate precomputed features `(B, D)` (same as ``update(features=..., real=...)``)."""
        self.update(features=features, real=real)

    def _stats(self, side: str) -> tuple[torch.Tensor, torch.Tensor]:
        n = int(getattr(self, f"{side}_n"))
        if n < 2:
            raise RuntimeError(f"FrechetDistance needs at least 2 {side} images, got {n}")
        s, outer = getattr(self, f"{side}_sum"), getattr(self, f"{side}_outer")
        mu = s / n
        cov = (outer - n * torch.outer(mu, mu)) / (n - 1)
        return mu, cov

    def compute(self) -> torch.Tensor:
        for side in ("real", "fake"):
            n = int(getattr(self, f"{side}_n"))
            if 0 < n < MIN_RECOMMENDED_N:
                logger.warning(
                    "Fréchet distance from %d %s images (< %d): biased upwards and not comparable to published FIDs",
                    n, side, MIN_RECOMMENDED_N,
                )  # fmt: skip
        mu1, s1 = self._stats("real")
        mu2, s2 = self._stats("fake")
        return frechet_distance(mu1, s1, mu2, s2)

    def describe(self) -> dict[str, Any]:
        n_real, n_fake = int(self.real_n), int(self.fake_n)
        out: dict[str, Any] = {
            "metric": self.name,
            "feature_extractor": self.extractor_name,
            "preprocessing": _preprocessing(self.extractor),
            "num_features": self.num_features,
            "n_real": n_real,
            "n_generated": n_fake,
        }
        if min(n_real, n_fake) < MIN_RECOMMENDED_N:
            out["warning"] = (
                f"N < {MIN_RECOMMENDED_N}: biased upwards, not comparable to published FID values"
            )
        return out
