"""VAE regeneration: encode to the latent space and decode again, with optional latent noise."""

from __future__ import annotations

from typing import Any

import torch

from attacks.image.base import AttackConfig, GeneratorArg, ImageAttack, per_image_generators
from attacks.image.ops import resize
from attacks.image.registry import IMAGE_ATTACKS
from attacks.paraphrase.img2img import work_size


class VaeRegenConfig(AttackConfig):
    """Args:
    strength: mapped to Gaussian noise of std ``max_latent_noise * strength`` added to the scaled
        latent (``latent * scaling_factor`` has roughly unit variance); 0 is the plain round trip.
    max_latent_noise: latent noise std at strength 1.
    model: the pipeline whose VAE is used: preset, hub id or local folder.
    resolution: ``"native"``, ``"input"`` or an int side.
    """

    max_latent_noise: float = 0.5
    model: str = "toy"
    resolution: int | str = "input"


@IMAGE_ATTACKS.register("vae_regen")
class VaeRegen(ImageAttack):
    """Encode with the diffusion model's ``AutoencoderKL`` (posterior mean), perturb, decode."""

    name = "vae_regen"
    config_class = VaeRegenConfig

    @property
    def latent_noise(self) -> float:
        return self.config.max_latent_noise * self.config.strength

    def parameters(self) -> dict[str, Any]:
        return {"latent_noise_std": self.latent_noise}

    def apply(self, images: torch.Tensor, generator: GeneratorArg) -> torch.Tensor:
        pipe = self.models.img2img(self.config.model)
        vae = pipe.vae
        h, w = images.shape[-2:]
        x = resize(images.float(), work_size(pipe, images, self.config.resolution))  # (B, 3, h', w')
        x = (x * 2 - 1).to(device=vae.device, dtype=vae.dtype)
        scale = vae.config.scaling_factor
        latents = vae.encode(x).latent_dist.mode() * scale  # (B, 4, h'/f, w'/f)
        if self.latent_noise > 0:
            gens = per_image_generators(generator, images.shape[0])
            noise = torch.stack(
                [torch.randn(latents.shape[1:], generator=g, device=g.device) for g in gens]
            )  # (B, 4, h'/f, w'/f)
            latents = latents + self.latent_noise * noise.to(latents.device, latents.dtype)
        out = vae.decode(latents / scale).sample  # (B, 3, h', w') in [-1, 1]
        return resize(((out.float() + 1) / 2).clamp(0, 1).to(images.device), (h, w))
