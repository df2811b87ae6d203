"""An adapter for transformers' ``CLIPModel`` (toy CLIP offline, any hub CLIP on a GPU)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .base import Scorer, freeze, pooled
from .preprocess import CLIP_MEAN, CLIP_STD, ClipPreprocess

logger = logging.getLogger(__name__)


def tokenize(
    tokenizer, prompts: Sequence[str], max_length: int, padding: str | bool = True
) -> dict[str, torch.Tensor]:
    """Tokenise ``prompts``, truncating at ``max_length`` tokens and logging how many were cut."""
    full = tokenizer(list(prompts), padding=False, truncation=False)["input_ids"]
    cut = [p for p, ids in zip(prompts, full) if len(ids) > max_length]
    if cut:
        logger.warning(
            "%d of %d prompts exceed %d tokens and are truncated (first: %r)",
            len(cut),
            len(prompts),
            max_length,
            cut[0],
        )
    return tokenizer(
        list(prompts), padding=padding, truncation=True, max_length=max_length, return_tensors="pt"
    )


class CLIPScorer(Scorer):
    """Cosine similarities of a transformers ``CLIPModel``, preprocessing included.

    Args:
        model: a ``CLIPModel`` (any checkpoint: toy CLIP, ``openai/clip-vit-base-patch32``, ...). It is
            put in eval mode with frozen weights.
        tokenizer: its tokenizer (``CLIPTokenizer`` / ``CLIPTokenizerFast`` or any tokenizer returning
            ``input_ids`` and ``attention_mask``).
        image_processor: optional ``CLIPImageProcessor``; its size, crop, mean and std are used.
            Without one, the model's ``vision_config.image_size`` and OpenAI's mean/std are used.
        text_batch_size: prompts embedded per forward pass.
        name: a label for reports.

    Example:
        >>> scorer = CLIPScorer(model, tokenizer)          # doctest: +SKIP
        >>> text = scorer.encode_text(["a red circle"])   # (1, D) # doctest: +SKIP
        >>> scorer(torch.rand(2, 3, 64, 64), text).shape  # doctest: +SKIP
        torch.Size([2, 1])
    """

    score_kind = "cosine"

    def __init__(
        self, model, tokenizer, image_processor=None, text_batch_size: int = 256, name: str = "clip"
    ) -> None:
        super().__init__()
        self.model = freeze(model)
        self.tokenizer = tokenizer
        self.name = name
        self.text_batch_size = int(text_batch_size)
        size = int(model.config.vision_config.image_size)
        if image_processor is not None:
            self.preprocess = ClipPreprocess.from_image_processor(image_processor, default_size=size)
        else:
            self.preprocess = ClipPreprocess(size, CLIP_MEAN, CLIP_STD, crop=True)
        self.image_size = self.preprocess.image_size
        self.max_length = int(model.config.text_config.max_position_embeddings)
        vocab = len(tokenizer) if hasattr(tokenizer, "__len__") else None
        if vocab is not None and vocab < 8:
            raise ValueError(
                f"the tokenizer has only {vocab} tokens: it was not loaded properly (offline, a hub tokenizer can "
                "silently come back empty); load it from a local directory that holds its vocabulary"
            )

    def _dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @torch.no_grad()
    def encode_text(self, prompts: Sequence[str]) -> torch.Tensor:
        if len(prompts) == 0:
            raise ValueError("encode_text needs at least one prompt")
        out = []
        for i in range(0, len(prompts), self.text_batch_size):
            chunk = prompts[i : i + self.text_batch_size]
            enc = tokenize(self.tokenizer, chunk, self.max_length, padding=self._padding)
            enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
            emb = pooled(self.model.get_text_features(**enc))  # (p, D)
            out.append(F.normalize(emb.float(), dim=-1))
        return torch.cat(out)  # (P, D)

    _padding: str | bool = True

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        pixels = self.preprocess(images.to(self.device, torch.float32)).to(self._dtype())  # (B, 3, s, s)
        emb = pooled(self.model.get_image_features(pixel_values=pixels))  # (B, D)
        return F.normalize(emb.float(), dim=-1)
