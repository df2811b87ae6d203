"""``retrieval_reference``: Training-free reference attention: the neighbours' keys and values join the UNet's self-attention."""

from __future__ import annotations

from workbench.generation import register_generator

from .base import RetrievalGenerator

__all__ = ["RetrievalReference"]


@register_generator("retrieval_reference")
class RetrievalReference(RetrievalGenerator):
    """Training-free reference attention: the neighbours' keys and values join the UNet's self-attention."""

    mode = "reference"
