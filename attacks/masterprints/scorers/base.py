"""The scorer interface: image and text embeddings and their per-prompt scores."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import nn

logger = logging.getLogger(__name__)


def pooled(output) -> torch.Tensor:
    """The projected embedding from a transformers ``get_*_features`` call (a tensor in older
    releases, a ``BaseModelOutputWithPooling`` whose ``pooler_output`` holds it in newer ones)."""
    if isinstance(output, torch.Tensor):
        return output
    value = getattr(output, "pooler_output", None)
    if value is None:
        raise TypeError(
            f"cannot find the embedding in a {type(output).__name__}; expected a tensor or pooler_output"
        )
    return value


class Scorer(nn.Module, ABC):
    """A contrastive image-text model seen through one interface.

    Subclasses embed prompts (:meth:`encode_text`, no gradients, called once per prompt list) and
    images (:meth:`encode_image`, differentiable with respect to the pixels), and turn a pair of
    embedding sets into a score matrix (:meth:`similarity`). Images are float tensors in [0, 1] of
    shape ``(B, 3, H, W)``; any size is accepted, the model's preprocessing lives inside.

    Attributes:
        score_kind: ``"cosine"`` (CLIP, scores in [-1, 1]) or ``"sigmoid"`` (SigLIP, in [0, 1]).
        image_size: the resolution the vision tower sees.
        name: a label for reports.
    """

    score_kind: str = "cosine"
    image_size: int
    name: str = "scorer"

    @abstractmethod
    def encode_text(self, prompts: Sequence[str]) -> torch.Tensor:
        """`torch.Tensor` of shape `(P, D)`: unit-norm text embeddings (no gradients)."""

    @abstractmethod
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """`torch.Tensor` of shape `(B, D)`: unit-norm image embeddings of `(B, 3, H, W)` [0, 1] pixels."""

    def similarity(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """Scores of every image against every prompt.

        Args:
            image_emb (`torch.Tensor` of shape `(B, D)`): unit-norm image embeddings.
            text_emb (`torch.Tensor` of shape `(P, D)`): unit-norm text embeddings.

        Returns:
            `torch.Tensor` of shape `(B, P)`: cosine similarities (in [-1, 1]) for CLIP-style scorers.
        """
        return image_emb @ text_emb.to(image_emb.dtype).T  # (B, D) x (D, P) -> (B, P)

    def forward(self, images: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """`(B, P)` scores of `(B, 3, H, W)` images in [0, 1] against `(P, D)` text embeddings."""
        return self.similarity(self.encode_image(images), text_emb)

    def train(self, mode: bool = True) -> Scorer:
        """Scorers stay in eval mode (no dropout, frozen statistics) whatever is asked."""
        return super().train(False)

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")


def freeze(model: nn.Module) -> nn.Module:
    """Put ``model`` in eval mode with gradients off for its weights (inputs still get gradients)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
