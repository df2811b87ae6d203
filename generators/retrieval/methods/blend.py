"""``retrieval_blend``: The top neighbour's subject blended into the box the prompt names (blended latent diffusion)."""

from __future__ import annotations

from workbench.generation import register_generator

from .base import RetrievalGenerator

__all__ = ["RetrievalBlend"]


@register_generator("retrieval_blend")
class RetrievalBlend(RetrievalGenerator):
    """The top neighbour's subject blended into the box the prompt names (blended latent diffusion)."""

    mode = "blend"
    requires = ("neighbours", "target_boxes")
