"""Random crop, resized back to the original size."""

from __future__ import annotations

import math
from typing import Any

import torch

from attacks.image.base import AttackConfig, GeneratorArg, ImageAttack, per_image_generators
from attacks.image.ops import resize
from attacks.image.registry import IMAGE_ATTACKS


class CropConfig(AttackConfig):
    """Args:
    strength: mapped to the kept area fraction ``1 - (1 - min_area) * strength``.
    min_area: area fraction kept at strength 1.
    """

    min_area: float = 0.25


@IMAGE_ATTACKS.register("crop")
class Crop(ImageAttack):
    """Keep a random window of ``area`` of the image (same aspect ratio), resize it back to ``(H, W)``."""

    name = "crop"
    config_class = CropConfig

    @property
    def area(self) -> float:
        return 1.0 - (1.0 - self.config.min_area) * self.config.strength

    def parameters(self) -> dict[str, Any]:
        return {"area": self.area}

    def apply(self, images: torch.Tensor, generator: GeneratorArg) -> torch.Tensor:
        h, w = images.shape[-2:]
        side = math.sqrt(self.area)
        ch, cw = max(1, round(h * side)), max(1, round(w * side))
        out = []
        for image, g in zip(images, per_image_generators(generator, images.shape[0])):
            top = int(torch.randint(0, h - ch + 1, (1,), generator=g, device=g.device))
            left = int(torch.randint(0, w - cw + 1, (1,), generator=g, device=g.device))
            window = image[None, :, top : top + ch, left : left + cw]  # (1, 3, ch, cw)
            out.append(resize(window, (h, w), "bilinear")[0])
        return torch.stack(out)
