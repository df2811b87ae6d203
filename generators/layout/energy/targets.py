"""What one generated image must honour: its phrases' token indices and region masks per map size."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..layout import BoxLayout, SemanticLayout
from ..tokens import phrase_token_indices


@dataclass
class SampleTargets:
    """The layout of one batch row, in the terms of the attention maps.

    Attributes:
        token_indices: per phrase, its prompt token positions (columns of the maps).
        masks: spatial token count ``h*w`` -> `torch.Tensor` of shape `(N, h, w)` in {0, 1}, one mask per phrase.
        text_end: index of the end-of-text token (the prompt's tokens are ``1 .. text_end - 1``).
    """

    token_indices: list[list[int]]
    masks: dict[int, torch.Tensor]
    text_end: int

    @classmethod
    def build(
        cls,
        layout: BoxLayout | SemanticLayout,
        prompt: str,
        tokenizer,
        map_shapes: list[tuple[int, int]],
        device: torch.device | str = "cpu",
    ) -> SampleTargets:
        """Targets for ``layout`` in ``prompt`` at every map shape ``(h, w)`` in ``map_shapes``."""
        layout.check_prompt(prompt)
        indices = phrase_token_indices(tokenizer, prompt, layout.phrases)
        n_tokens = len(tokenizer(prompt.lower(), add_special_tokens=True).input_ids)
        text_end = min(n_tokens, int(getattr(tokenizer, "model_max_length", 77))) - 1
        masks = {h * w: layout.region_masks(h, w).to(device) for h, w in map_shapes}
        return cls(token_indices=indices, masks=masks, text_end=max(text_end, 2))
