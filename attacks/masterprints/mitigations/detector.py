"""A detector of master images: a small binary classifier on CLIP image embeddings and pixel statistics."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ..evaluation import embed_images
from ..scorers.base import Scorer

logger = logging.getLogger(__name__)


class DetectorConfig(BaseModel):
    """
    Attributes:
        features: ``"embedding"`` (the scorer's image embedding), ``"pixels"`` (image statistics:
            colour moments, gradient and Laplacian energy) or ``"both"``.
        hidden: width of the hidden layer (0: a linear classifier).
        epochs: full-batch training epochs.
        lr: Adam's learning rate.
        weight_decay: L2 penalty.
    """

    model_config = ConfigDict(extra="forbid")

    features: Literal["embedding", "pixels", "both"] = "both"
    hidden: int = Field(64, ge=0)
    epochs: int = Field(300, ge=1)
    lr: float = Field(1e-2, gt=0)
    weight_decay: float = Field(1e-4, ge=0)


def pixel_statistics(images: torch.Tensor) -> torch.Tensor:
    """Hand-made image statistics that separate optimised images from natural ones.

    Args:
        images (`torch.Tensor` of shape `(B, 3, H, W)`): pixels in [0, 1].

    Returns:
        `torch.Tensor` of shape `(B, 14)`: per-channel mean and std, saturation mean, mean absolute
        horizontal / vertical differences and Laplacian, their 90th percentiles, and the fraction of
        pixels at 0 or 1.
    """
    x = images.float()
    mean = x.mean(dim=(2, 3))  # (B, 3)
    std = x.std(dim=(2, 3))  # (B, 3)
    sat = (x.max(dim=1).values - x.min(dim=1).values).mean(dim=(1, 2))[:, None]  # (B, 1)
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=1)  # (B, H, W-1)
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=1)  # (B, H-1, W)
    lap = (
        (4 * x[..., 1:-1, 1:-1] - x[..., :-2, 1:-1] - x[..., 2:, 1:-1] - x[..., 1:-1, :-2] - x[..., 1:-1, 2:])
        .abs()
        .mean(dim=1)
    )
    flat = lambda t: t.reshape(t.shape[0], -1)  # noqa: E731
    q = lambda t: flat(t).quantile(0.9, dim=1, keepdim=True)  # noqa: E731
    energy = torch.cat(
        [
            flat(dx).mean(1, keepdim=True),
            flat(dy).mean(1, keepdim=True),
            flat(lap).mean(1, keepdim=True),
            q(dx),
            q(dy),
            q(lap),
        ],
        dim=1,
    )
    clipped = ((x <= 1 / 255) | (x >= 254 / 255)).float().mean(dim=(1, 2, 3))[:, None]  # (B, 1)
    return torch.cat([mean, std, sat, energy, clipped], dim=1)  # (B, 14)


class MasterPrintDetector(nn.Module):
    """Scores how likely an image is a mined master image (a probability in [0, 1]).

    Args:
        scorer: the CLIP model whose image embedding is a feature (the model being protected).
        config: features and training settings.

    Example:
        >>> det = MasterPrintDetector(scorer)                      # doctest: +SKIP
        >>> det.fit(master_images, real_images, generator=g)       # doctest: +SKIP
        >>> det.probability(images).shape                          # doctest: +SKIP
        torch.Size([8])
    """

    def __init__(self, scorer: Scorer, config: DetectorConfig | None = None) -> None:
        super().__init__()
        self.scorer = scorer
        self.config = config or DetectorConfig()
        self.head: nn.Module | None = None
        self.register_buffer("feat_mean", torch.zeros(0))
        self.register_buffer("feat_std", torch.zeros(0))

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """`(B, F)` raw features of `(B, 3, H, W)` images in [0, 1]."""
        parts = []
        if self.config.features in ("embedding", "both"):
            parts.append(embed_images(self.scorer, images, batch_size).cpu())
        if self.config.features in ("pixels", "both"):
            parts.append(pixel_statistics(images.cpu()))
        return torch.cat(parts, dim=1)

    def _make_head(self, dim: int) -> nn.Module:
        h = self.config.hidden
        return nn.Linear(dim, 1) if h == 0 else nn.Sequential(nn.Linear(dim, h), nn.ReLU(), nn.Linear(h, 1))

    def _logits(self, feats: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            raise RuntimeError("the detector is not trained: call fit() or load() first")
        return self.head((feats - self.feat_mean) / self.feat_std).squeeze(-1)  # (B,)

    def fit(
        self, master_images: torch.Tensor, real_images: torch.Tensor, generator: torch.Generator
    ) -> list[float]:
        """Train on master images (label 1) and real images (label 0); classes are weighted equally.

        Args:
            master_images (`torch.Tensor` of shape `(M, 3, H, W)`): mined images in [0, 1].
            real_images (`torch.Tensor` of shape `(N, 3, H, W)`): real images in [0, 1].
            generator: seeds the head's initial weights.

        Returns:
            The training loss per epoch.
        """
        if master_images.shape[0] < 2 or real_images.shape[0] < 2:
            raise ValueError(
                f"train the detector on at least 2 master and 2 real images, got {master_images.shape[0]} and {real_images.shape[0]}"
            )
        feats = torch.cat([self.features(master_images), self.features(real_images)])  # (M + N, F)
        labels = torch.cat([torch.ones(master_images.shape[0]), torch.zeros(real_images.shape[0])])
        self.feat_mean = feats.mean(dim=0)
        self.feat_std = feats.std(dim=0).clamp_min(1e-6)
        self.head = self._make_head(feats.shape[1])
        with torch.no_grad():
            for p in self.head.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * (1 / max(p.shape[-1], 1)) ** 0.5)
        pos_weight = torch.tensor(real_images.shape[0] / master_images.shape[0])
        opt = torch.optim.Adam(
            self.head.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay
        )
        curve = []
        for _ in range(self.config.epochs):
            loss = F.binary_cross_entropy_with_logits(self._logits(feats), labels, pos_weight=pos_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            curve.append(float(loss.detach()))
        self.head.eval()
        logger.info(
            "detector trained on %d master / %d real images; final loss %.4f",
            master_images.shape[0],
            real_images.shape[0],
            curve[-1],
        )
        return curve

    @torch.no_grad()
    def probability(self, images: torch.Tensor) -> torch.Tensor:
        """`(B,)` probabilities in [0, 1] that `(B, 3, H, W)` images are master images."""
        return torch.sigmoid(self._logits(self.features(images)))

    def save(self, path: str | Path) -> None:
        """Write the head as safetensors and the config beside it (``<path>.json``)."""
        from safetensors.torch import save_file

        if self.head is None:
            raise RuntimeError("nothing to save: the detector is not trained")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {f"head.{k}": v.contiguous() for k, v in self.head.state_dict().items()}
        state.update(feat_mean=self.feat_mean, feat_std=self.feat_std)
        save_file(state, str(path))
        path.with_suffix(".json").write_text(
            json.dumps({"config": self.config.model_dump(), "scorer": self.scorer.name}, indent=2)
        )

    @classmethod
    def load(cls, path: str | Path, scorer: Scorer) -> MasterPrintDetector:
        from safetensors.torch import load_file

        path = Path(path)
        meta = json.loads(path.with_suffix(".json").read_text())
        det = cls(scorer, DetectorConfig.model_validate(meta["config"]))
        state = load_file(str(path))
        det.feat_mean, det.feat_std = state.pop("feat_mean"), state.pop("feat_std")
        det.head = det._make_head(det.feat_mean.shape[0])
        det.head.load_state_dict({k[5:]: v for k, v in state.items()})
        det.head.eval()
        return det
