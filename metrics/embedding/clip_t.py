"""CLIP-T: image-text CLIP similarity (CLIPScore)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from metrics.base import PerItemMetric
from metrics.embedding.encoders import CLIPImageEncoder, clip_text_embeddings


class CLIPTextScore(PerItemMetric):
    """Mean image-caption CLIP similarity: ``scale * max(cos(image, text), 0)`` per pair.

    With the defaults (``scale=100``, negatives clamped) this is torchmetrics' ``CLIPScore``; with
    ``scale=2.5`` it is Hessel et al.'s CLIPScore; with ``scale=1, clamp_negative=False`` the plain
    cosine. The report states the model, the scale, the clamp and how many captions were cut at the
    model's context length (77 tokens for OpenAI CLIP).

    Args:
        model: `transformers.CLIPModel` (eval mode is forced).
        processor: its ``CLIPProcessor`` (image settings and tokenizer), or pass ``tokenizer``.
        tokenizer: the tokenizer when no processor is given.
        model_name: name for reports (default ``model.config.name_or_path``).
        scale, clamp_negative: see above.

    Inputs to ``update``:
        images (`torch.Tensor` of shape `(B, 3, H, W)`) in [0, 1]; captions: B strings.
    """

    name = "clip_t"
    higher_is_better = True
    is_differentiable = True

    def __init__(
        self,
        model: nn.Module,
        processor: Any = None,
        tokenizer: Any = None,
        model_name: str | None = None,
        scale: float = 100.0,
        clamp_negative: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.encoder = CLIPImageEncoder(model, processor, name=model_name)
        self.tokenizer = tokenizer if tokenizer is not None else getattr(processor, "tokenizer", None)
        if self.tokenizer is None:
            raise ValueError("CLIPTextScore needs a processor with a tokenizer, or tokenizer=")
        vocab = len(getattr(self.tokenizer, "tokenizer", self.tokenizer))
        if vocab < 10:
            raise ValueError(
                f"the CLIP tokenizer has only {vocab} tokens (an offline from_pretrained of a hub id can "
                "silently return such a tokenizer); load it from a folder that holds vocab.json and merges.txt"
            )
        self.scale = float(scale)
        self.clamp_negative = clamp_negative
        self.max_length = int(model.config.text_config.max_position_embeddings)
        self.add_state("truncated", default=torch.tensor(0), dist_reduce_fx="sum")

    def forward_values(self, images: torch.Tensor, captions: list[str]) -> tuple[torch.Tensor, int]:
        """Per-pair scores `(B,)` (differentiable w.r.t. images) and the number of truncated captions."""
        if isinstance(captions, str):
            captions = [captions]
        if len(captions) != images.shape[0]:
            raise ValueError(f"got {images.shape[0]} images but {len(captions)} captions")
        image_emb = self.encoder(images)  # (B, D)
        text_emb, n_truncated = clip_text_embeddings(
            self.encoder.model, self.tokenizer, list(captions), self.max_length
        )
        cos = F.cosine_similarity(image_emb.float(), text_emb.float(), dim=-1)  # (B,)
        if self.clamp_negative:
            cos = cos.clamp_min(0.0)
        return self.scale * cos, n_truncated

    def update(self, images: torch.Tensor, captions: list[str]) -> None:
        with torch.no_grad():
            values, n_truncated = self.forward_values(images, captions)
        self._append(values)
        self.truncated += n_truncated

    def settings(self) -> dict[str, Any]:
        return {
            "model": self.encoder.name,
            "scale": self.scale,
            "clamp_negative": self.clamp_negative,
            "max_length": self.max_length,
            "truncated_captions": int(self.truncated),
        }
