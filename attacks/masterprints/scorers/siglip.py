"""A SigLIP-style scorer: per-pair sigmoid probabilities instead of cosine similarities."""

from __future__ import annotations

import torch

from .clip import CLIPScorer
from .preprocess import SIGLIP_MEAN, SIGLIP_STD, ClipPreprocess


class SigLIPScorer(CLIPScorer):
    """Scores ``sigmoid(exp(logit_scale) * cos + logit_bias)`` in [0, 1], as SigLIP is trained.

    Works on transformers ``SiglipModel`` (which carries ``logit_scale`` and ``logit_bias``) and on any
    CLIP-interface model (``get_image_features`` / ``get_text_features``) given an explicit scale and
    bias. Text is padded to the model's maximum length, as SigLIP was trained.

    Args:
        model: a ``SiglipModel`` or a ``CLIPModel``.
        tokenizer: its tokenizer.
        image_processor: optional ``SiglipImageProcessor``; without it SigLIP's mean/std (0.5) and a
            square resize without crop are used.
        logit_scale: log of the temperature multiplier; read from the model when ``None``.
        logit_bias: the bias; read from the model when ``None`` (0 if it has none).
    """

    score_kind = "sigmoid"
    _padding = "max_length"

    def __init__(
        self,
        model,
        tokenizer,
        image_processor=None,
        logit_scale: float | None = None,
        logit_bias: float | None = None,
        text_batch_size: int = 256,
        name: str = "siglip",
    ) -> None:
        super().__init__(model, tokenizer, image_processor, text_batch_size=text_batch_size, name=name)
        if image_processor is None:
            self.preprocess = ClipPreprocess(
                self.image_size, SIGLIP_MEAN, SIGLIP_STD, crop=False, interpolation="bilinear"
            )
        scale = logit_scale if logit_scale is not None else float(model.logit_scale.detach().reshape(-1)[0])
        if logit_bias is not None:
            bias = logit_bias
        elif getattr(model, "logit_bias", None) is not None:
            bias = float(model.logit_bias.detach().reshape(-1)[0])
        else:
            bias = 0.0
        self.register_buffer("logit_scale", torch.tensor(float(scale)), persistent=False)
        self.register_buffer("logit_bias", torch.tensor(float(bias)), persistent=False)

    def similarity(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """`(B, P)` sigmoid probabilities in [0, 1] from `(B, D)` and `(P, D)` unit-norm embeddings."""
        cos = image_emb @ text_emb.to(image_emb.dtype).T  # (B, P)
        return torch.sigmoid(cos * self.logit_scale.exp() + self.logit_bias)
