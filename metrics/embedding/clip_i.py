"""CLIP-I: image-image similarity of embeddings."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from metrics.base import PerItemMetric
from metrics.embedding.encoders import CLIPImageEncoder, ImageEncoder


class CLIPImageScore(PerItemMetric):
    """Mean cosine similarity of the image embeddings of image pairs (DreamBooth's CLIP-I).

    Args:
        model: a `transformers.CLIPModel` (wrapped with its ``processor``) or any
            :class:`~metrics.embedding.encoders.ImageEncoder`.
        processor: the CLIP processor (image settings) when ``model`` is a CLIPModel.
        model_name: name for reports.
        scale: multiply the cosine (1.0: values in [-1, 1]).

    Inputs to ``update``:
        preds, target (`torch.Tensor` of shape `(B, 3, H, W)`) in [0, 1]; sizes may differ between
        the two (each is resized by the encoder).
    """

    name = "clip_i"
    higher_is_better = True
    is_differentiable = True

    def __init__(
        self,
        model: nn.Module,
        processor: Any = None,
        model_name: str | None = None,
        scale: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.encoder = (
            model if isinstance(model, ImageEncoder) else CLIPImageEncoder(model, processor, name=model_name)
        )
        if model_name and isinstance(model, ImageEncoder):
            self.encoder.name = model_name
        self.scale = float(scale)

    def forward_values(self, preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if preds.shape[0] != target.shape[0]:
            raise ValueError(f"got {preds.shape[0]} preds but {target.shape[0]} targets")
        a, b = self.encoder(preds), self.encoder(target)  # (B, D) each
        return self.scale * F.cosine_similarity(a.float(), b.float(), dim=-1)

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        with torch.no_grad():
            self._append(self.forward_values(preds, target))

    def settings(self) -> dict[str, Any]:
        return {"model": self.encoder.name, "scale": self.scale, "similarity": "cosine"}
