"""Brightness change."""

from __future__ import annotations

from typing import Any

import torch

from attacks.image.base import AttackConfig, GeneratorArg, ImageAttack
from attacks.image.registry import IMAGE_ATTACKS


class BrightnessConfig(AttackConfig):
    """Args:
    strength: mapped to the factor ``1 + (max_factor - 1) * strength`` (WAVES' range is [1, 2]).
    max_factor: factor at strength 1 (below 1 darkens).
    """

    max_factor: float = 2.0


@IMAGE_ATTACKS.register("brightness")
class Brightness(ImageAttack):
    """Multiply every pixel by ``factor`` and clip (PIL ``ImageEnhance.Brightness``)."""

    name = "brightness"
    config_class = BrightnessConfig

    @property
    def factor(self) -> float:
        return 1.0 + (self.config.max_factor - 1.0) * self.config.strength

    def parameters(self) -> dict[str, Any]:
        return {"factor": self.factor}

    def apply(self, images: torch.Tensor, generator: GeneratorArg) -> torch.Tensor:
        return images * self.factor
