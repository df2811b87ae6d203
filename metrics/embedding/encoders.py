"""Image encoders for similarity and distribution metrics: [0, 1] pixels in, embeddings out.

Any ``nn.Module`` with a ``name`` attribute and ``forward(images) -> (B, D)`` can be injected where
the metrics take an encoder; these wrap transformers models (CLIP, DINOv2 and other ViTs).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from metrics.checks import check_images
from metrics.embedding.preprocess import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, ImagePreprocess


def model_name(model: Any, default: str | None = None) -> str:
    """A model's hub id or folder (``config.name_or_path``), else ``default`` or its class name."""
    name = getattr(getattr(model, "config", None), "name_or_path", None)
    return str(name) if name else (default or type(model).__name__)


class ImageEncoder(nn.Module):
    """Base class: ``forward(images)`` maps `(B, 3, H, W)` pixels in [0, 1] to `(B, D)` embeddings.

    Attributes:
        name: the model's name, written beside every number computed with it.
        num_features: ``D``.
    """

    name: str = "encoder"
    num_features: int = 0

    def embed(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images, "images", (0.0, 1.0))
        return self.embed(images)


class CLIPImageEncoder(ImageEncoder):
    """A transformers ``CLIPModel``'s projected image embedding, preprocessing inside.

    Args:
        model: `transformers.CLIPModel` (any hub CLIP or the toy one); put in eval mode.
        processor: its ``CLIPProcessor`` / image processor (resize and normalisation settings); without
            one, resize + crop to the vision config's ``image_size`` with OpenAI's mean and std.
        name: overrides ``model.config.name_or_path`` in reports.

    Forward:
        images (`torch.Tensor` of shape `(B, 3, H, W)`) in [0, 1] -> `(B, projection_dim)` (not normalised).
    """

    def __init__(self, model: nn.Module, processor: Any = None, name: str | None = None) -> None:
        super().__init__()
        self.model = model.eval()
        if processor is not None:
            self.preprocess = ImagePreprocess.from_processor(processor)
        else:
            side = int(model.config.vision_config.image_size)
            self.preprocess = ImagePreprocess(
                side, crop_size=(side, side), mean=OPENAI_CLIP_MEAN, std=OPENAI_CLIP_STD
            )
        self.name = name or model_name(model, "clip")
        self.num_features = int(model.config.projection_dim)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        pixels = self.preprocess(images).to(self.model.dtype)  # (B, 3, S, S)
        pooled = self.model.vision_model(pixel_values=pixels).pooler_output  # (B, hidden)
        return self.model.visual_projection(pooled)  # (B, projection_dim)


class HFVisionEncoder(ImageEncoder):
    """A transformers vision backbone (``Dinov2Model``, ``ViTModel``, ``CLIPVisionModel`` ...) as an encoder.

    Args:
        model: the backbone.
        processor: its image processor (resize / crop / normalisation settings).
        pooling: ``"cls"`` (the class token of ``last_hidden_state``, DreamBooth's DINO score),
            ``"pooler"`` (``pooler_output``) or ``"mean"`` (mean of the patch tokens).
        name: overrides ``model.config.name_or_path``.
    """

    def __init__(
        self, model: nn.Module, processor: Any, pooling: str = "cls", name: str | None = None
    ) -> None:
        super().__init__()
        if pooling not in ("cls", "pooler", "mean"):
            raise ValueError(f"pooling must be 'cls', 'pooler' or 'mean', got {pooling!r}")
        self.model = model.eval()
        self.preprocess = ImagePreprocess.from_processor(processor)
        self.pooling = pooling
        self.name = name or model_name(model, "vision-encoder")
        self.num_features = int(model.config.hidden_size)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        pixels = self.preprocess(images).to(self.model.dtype)  # (B, 3, S, S)
        out = self.model(pixel_values=pixels)
        if self.pooling == "pooler":
            return out.pooler_output  # (B, D)
        hidden = out.last_hidden_state  # (B, 1 + T, D)
        return hidden[:, 0] if self.pooling == "cls" else hidden[:, 1:].mean(dim=1)


def clip_text_embeddings(
    model: nn.Module, tokenizer: Any, texts: list[str], max_length: int | None = None
) -> tuple[torch.Tensor, int]:
    """Projected CLIP text embeddings and how many texts were cut at the model's context length.

    Args:
        model: `transformers.CLIPModel`.
        tokenizer: its tokenizer (or a processor holding one).
        texts: B captions.
        max_length: context length; default the text config's ``max_position_embeddings`` (77).

    Returns:
        ``(embeddings (B, projection_dim), n_truncated)``.
    """
    tok = getattr(tokenizer, "tokenizer", tokenizer)
    limit = int(max_length or model.config.text_config.max_position_embeddings)
    full = tok(list(texts), padding=False, truncation=False)["input_ids"]
    n_truncated = sum(len(ids) > limit for ids in full)
    enc = tok(list(texts), padding=True, truncation=True, max_length=limit, return_tensors="pt")
    device = next(model.parameters()).device
    out = model.text_model(
        input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device)
    )
    return model.text_projection(out.pooler_output), int(n_truncated)  # (B, projection_dim)
