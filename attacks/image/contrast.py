"""Contrast change."""

from __future__ import annotations

from typing import Any

import torch

from attacks.image.base import AttackConfig, GeneratorArg, ImageAttack
from attacks.image.registry import IMAGE_ATTACKS


class ContrastConfig(AttackConfig):
    """Args:
    strength: mapped to the factor ``1 + (max_factor - 1) * strength`` (WAVES' range is [1, 2]).
    max_factor: factor at strength 1 (below 1 flattens).
    """

    max_factor: float = 2.0


@IMAGE_ATTACKS.register("contrast")
class Contrast(ImageAttack):
    """Blend each image with its mean grey level (PIL ``ImageEnhance.Contrast``):
    ``mean + factor * (image - mean)``."""

    name = "contrast"
    config_class = ContrastConfig

    @property
    def factor(self) -> float:
        return 1.0 + (self.config.max_factor - 1.0) * self.config.strength

    def parameters(self) -> dict[str, Any]:
        return {"factor": self.factor}

    def apply(self, images: torch.Tensor, generator: GeneratorArg) -> torch.Tensor:
        weights = torch.tensor([0.299, 0.587, 0.114], device=images.device, dtype=images.dtype).view(
            1, 3, 1, 1
        )
        mean = (images * weights).sum(1, keepdim=True).mean(dim=(2, 3), keepdim=True)  # (B, 1, 1, 1)
        return mean + self.factor * (images - mean)
