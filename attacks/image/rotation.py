"""Rotation about the image centre."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from attacks.image.base import AttackConfig, GeneratorArg, ImageAttack
from attacks.image.registry import IMAGE_ATTACKS


class RotationConfig(AttackConfig):
    """Args:
    strength: mapped to the angle ``max_degrees * strength`` (counter-clockwise).
    max_degrees: angle at strength 1.
    """

    max_degrees: float = 45.0


@IMAGE_ATTACKS.register("rotation")
class Rotation(ImageAttack):
    """Rotate by ``angle`` degrees, bilinear, same canvas size; uncovered corners are black."""

    name = "rotation"
    config_class = RotationConfig

    @property
    def degrees(self) -> float:
        return self.config.max_degrees * self.config.strength

    def parameters(self) -> dict[str, Any]:
        return {"degrees": self.degrees}

    def apply(self, images: torch.Tensor, generator: GeneratorArg) -> torch.Tensor:
        if self.degrees == 0:
            return images
        b, _, h, w = images.shape
        theta = math.radians(self.degrees)
        cos, sin = math.cos(theta), math.sin(theta)
        # affine_grid works in normalised coordinates; correct for a non-square aspect ratio.
        matrix = torch.tensor(
            [[cos, -sin * h / w, 0.0], [sin * w / h, cos, 0.0]], dtype=torch.float32, device=images.device
        )
        grid = F.affine_grid(matrix.expand(b, 2, 3), [b, 3, h, w], align_corners=False)  # (B, H, W, 2)
        return F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
