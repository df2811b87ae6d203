"""Pixel normalisation shared by the toy CLIP and captioner, their trainers and their evaluations."""

from __future__ import annotations

import torch

__all__ = ["OPENAI_MEAN", "OPENAI_STD", "normalize"]

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] pixels (B, 3, H, W) -> CLIP-normalised pixel values."""
    mean = torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_STD).view(1, 3, 1, 1)
    return (images - mean) / std
