"""Additive Gaussian noise."""

from __future__ import annotations

from typing import Any

import torch

from attacks.image.base import AttackConfig, GeneratorArg, ImageAttack, per_image_generators
from attacks.image.registry import IMAGE_ATTACKS


class NoiseConfig(AttackConfig):
    """Args:
    strength: mapped to the noise standard deviation ``std = max_std * strength`` (image units).
    max_std: standard deviation at strength 1 (0.1 = WAVES' strongest setting).
    """

    max_std: float = 0.1


@IMAGE_ATTACKS.register("noise")
class Noise(ImageAttack):
    """Add i.i.d. Gaussian noise per pixel and channel, then clip to [0, 1]."""

    name = "noise"
    config_class = NoiseConfig

    @property
    def std(self) -> float:
        return self.config.max_std * self.config.strength

    def parameters(self) -> dict[str, Any]:
        return {"std": self.std}

    def apply(self, images: torch.Tensor, generator: GeneratorArg) -> torch.Tensor:
        gens = per_image_generators(generator, images.shape[0])
        noise = torch.stack(
            [torch.randn(images.shape[1:], generator=g, device=g.device, dtype=torch.float32) for g in gens]
        )  # (B, 3, H, W)
        return images + self.std * noise.to(images.device, images.dtype)
