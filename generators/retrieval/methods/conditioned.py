"""``retrieval_conditioned``: Re-Imagen's conditioning: the trained conditioner's tokens of the neighbours in
cross-attention.

A :class:`~generators.retrieval.conditioner.RetrievalConditioner` turns the neighbours' CLIP image and text
embeddings into extra cross-attention tokens appended to the prompt's tokens; the UNet was fine-tuned to read
them (:mod:`generators.retrieval.train`). Without neighbours the conditioner's null tokens are appended (the
baseline on the same weights).
"""

from __future__ import annotations

from typing import Any

import torch

from workbench.generation import register_generator

from .base import RetrievalGenerator
from .mode import RetrievalMode

__all__ = ["ConditionedMode", "RetrievalConditioned"]


class ConditionedMode(RetrievalMode):
    """The conditioner's tokens of the neighbours (its null tokens without neighbours) in every branch."""

    name = "conditioned"

    @classmethod
    def check(cls, pipe: Any) -> None:
        if pipe.retrieval_conditioner is None:
            raise ValueError(
                "mode='conditioned' needs a trained retrieval conditioner (RetrievalAugmentedPipeline.from_export); "
                "use mode='reference' for training-free retrieval"
            )

    def encoder_states(self, states: dict[str, torch.Tensor], rows: int) -> dict[str, torch.Tensor]:
        """``cond`` / ``retrieval_only`` get the neighbours' tokens, ``text_only`` / ``uncond`` the null tokens:
        `(B, 77, C)` -> `(B, 77 + T, C)`."""
        conditioner, device = self.pipe.retrieval_conditioner, self.pipe._execution_device
        dtype = states["cond"].dtype
        null = conditioner.null_tokens(rows).to(device, dtype)  # (B, T, C)
        ret = null
        if self.neighbours is not None:
            ks = {len(n) for n in self.neighbours}
            if len(ks) != 1:
                raise ValueError(f"conditioned mode needs the same k for every prompt, got {sorted(ks)}")
            n = self.rows_per_prompt
            image_emb = torch.stack([nb.image_embeds for nb in self.neighbours]).repeat_interleave(n, 0)
            text_emb = torch.stack([nb.text_embeds for nb in self.neighbours]).repeat_interleave(n, 0)
            ret = conditioner(image_emb.to(device), text_emb.to(device)).to(dtype)  # (B, T, C)
        extra = {"cond": ret, "retrieval_only": ret, "text_only": null, "uncond": null}
        return {b: torch.cat([s, extra[b]], dim=1) for b, s in states.items()}


@register_generator("retrieval_conditioned")
class RetrievalConditioned(RetrievalGenerator):
    """Re-Imagen's conditioning: the trained conditioner's tokens of the neighbours in cross-attention."""

    mode = "conditioned"
