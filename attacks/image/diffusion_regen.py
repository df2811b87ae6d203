"""Diffusion regeneration without a caption (Zhao et al. 2023, WatermarkAttacker's DiffWMAttacker
with no prompt): noise the VAE latent part-way and denoise it unconditionally."""

from __future__ import annotations

from typing import Any

import torch

from attacks.image.base import AttackConfig, GeneratorArg, ImageAttack
from attacks.image.registry import IMAGE_ATTACKS
from attacks.paraphrase.img2img import img2img
from workbench.sampling import PIPELINE_SAMPLING


class DiffusionRegenConfig(AttackConfig):
    """Args:
    strength: the img2img strength (fraction of the noise schedule), as for ``paraphrase``, so
        the two attacks compare at equal noise; 0 only passes the image through the VAE.
    num_inference_steps: diffusion steps at strength 1.
    model: img2img model: preset, hub id or local folder.
    resolution: ``"native"``, ``"input"`` or an int side.
    """

    strength: float = 0.4
    num_inference_steps: int = PIPELINE_SAMPLING.num_inference_steps
    model: str = "toy"
    resolution: int | str = "native"


@IMAGE_ATTACKS.register("diffusion_regen")
class DiffusionRegen(ImageAttack):
    """Regenerate with an empty prompt and no classifier-free guidance (batched)."""

    name = "diffusion_regen"
    config_class = DiffusionRegenConfig

    def parameters(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "img2img_strength": cfg.strength,
            "denoising_steps": int(cfg.num_inference_steps * cfg.strength),
        }

    def apply(self, images: torch.Tensor, generator: GeneratorArg) -> torch.Tensor:
        cfg = self.config
        return img2img(
            self.models.img2img(cfg.model),
            images,
            [""] * images.shape[0],
            strength=cfg.strength,
            guidance_scale=1.0,
            num_inference_steps=cfg.num_inference_steps,
            generator=generator,
            resolution=cfg.resolution,
        )
