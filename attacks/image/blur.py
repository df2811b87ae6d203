"""Gaussian blur."""

from __future__ import annotations

from typing import Any

import torch

from attacks.image.base import AttackConfig, GeneratorArg, ImageAttack
from attacks.image.ops import gaussian_blur
from attacks.image.registry import IMAGE_ATTACKS


class BlurConfig(AttackConfig):
    """Args:
    strength: mapped to the blur's standard deviation ``sigma = max_sigma * strength`` pixels.
    max_sigma: sigma at strength 1 (pixels, at the image's own resolution).
    """

    max_sigma: float = 4.0


@IMAGE_ATTACKS.register("blur")
class Blur(ImageAttack):
    """Separable Gaussian blur with reflect padding (identity at strength 0)."""

    name = "blur"
    config_class = BlurConfig

    @property
    def sigma(self) -> float:
        return self.config.max_sigma * self.config.strength

    def parameters(self) -> dict[str, Any]:
        return {"sigma": self.sigma}

    def apply(self, images: torch.Tensor, generator: GeneratorArg) -> torch.Tensor:
        return gaussian_blur(images, self.sigma)
