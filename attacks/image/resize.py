"""Down-scaling and up-scaling back (resolution loss)."""

from __future__ import annotations

from typing import Any, Literal

import torch

from attacks.image.base import AttackConfig, GeneratorArg, ImageAttack
from attacks.image.ops import resize
from attacks.image.registry import IMAGE_ATTACKS


class ResizeConfig(AttackConfig):
    """Args:
    strength: mapped to the scale ``1 - (1 - min_scale) * strength`` of the intermediate image.
    min_scale: scale at strength 1.
    mode: interpolation used both ways.
    """

    min_scale: float = 0.25
    mode: Literal["bilinear", "bicubic", "nearest"] = "bilinear"


@IMAGE_ATTACKS.register("resize")
class Resize(ImageAttack):
    """Resize to ``scale`` times the side, then back to the original size."""

    name = "resize"
    config_class = ResizeConfig

    @property
    def scale(self) -> float:
        return 1.0 - (1.0 - self.config.min_scale) * self.config.strength

    def parameters(self) -> dict[str, Any]:
        return {"scale": self.scale, "mode": self.config.mode}

    def apply(self, images: torch.Tensor, generator: GeneratorArg) -> torch.Tensor:
        h, w = images.shape[-2:]
        small = (max(1, round(h * self.scale)), max(1, round(w * self.scale)))
        return resize(resize(images, small, self.config.mode), (h, w), self.config.mode)
