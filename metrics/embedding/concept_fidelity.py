"""Concept fidelity: how close generated images are to reference images of their concept."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from metrics.base import PerItemMetric
from metrics.embedding.encoders import ImageEncoder


class ConceptFidelity(PerItemMetric):
    """Per generated image, the mean cosine similarity of its embedding to the embeddings of its
    concept's reference images, averaged over images (DreamBooth's DINO score with a DINO encoder).

    Args:
        encoder: any :class:`~metrics.embedding.encoders.ImageEncoder`: an ``HFVisionEncoder`` around
            DINOv2 on real machines, the toy CLIP's ``CLIPImageEncoder`` offline. Its ``name`` is reported.

    Inputs to ``update``:
        images (`torch.Tensor` of shape `(B, 3, H, W)`) in [0, 1];
        references: one concept's reference images `(R, 3, H', W')` shared by the whole batch, or a
        list of B such tensors (one reference set per image).
    """

    name = "concept_fidelity"
    higher_is_better = True
    is_differentiable = True

    def __init__(self, encoder: ImageEncoder, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not hasattr(encoder, "name"):
            raise TypeError("the encoder needs a 'name' attribute (it is written beside the number)")
        self.encoder = encoder

    def forward_values(
        self, images: torch.Tensor, references: torch.Tensor | list[torch.Tensor]
    ) -> torch.Tensor:
        emb = F.normalize(self.encoder(images).float(), dim=-1)  # (B, D)
        if isinstance(references, torch.Tensor):
            ref = F.normalize(self.encoder(references).float(), dim=-1)  # (R, D)
            return (emb @ ref.T).mean(dim=1)  # (B,)
        if len(references) != images.shape[0]:
            raise ValueError(f"got {images.shape[0]} images but {len(references)} reference sets")
        out = []
        for e, refs in zip(emb, references, strict=True):
            r = F.normalize(self.encoder(refs).float(), dim=-1)  # (R_i, D)
            out.append((r @ e).mean())
        return torch.stack(out)

    def update(self, images: torch.Tensor, references: torch.Tensor | list[torch.Tensor]) -> None:
        with torch.no_grad():
            self._append(self.forward_values(images, references))

    def settings(self) -> dict[str, Any]:
        return {"encoder": self.encoder.name, "similarity": "mean cosine to the concept's references"}
