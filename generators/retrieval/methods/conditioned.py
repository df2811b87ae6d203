"""``retrieval_conditioned``: Re-Imagen's conditioning: the trained conditioner's tokens of the neighbours in cross-attention."""

from __future__ import annotations

from workbench.generation import register_generator

from .base import RetrievalGenerator

__all__ = ["RetrievalConditioned"]


@register_generator("retrieval_conditioned")
class RetrievalConditioned(RetrievalGenerator):
    """Re-Imagen's conditioning: the trained conditioner's tokens of the neighbours in cross-attention."""

    mode = "conditioned"
