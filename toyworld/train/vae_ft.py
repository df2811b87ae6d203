"""The toy VAE fine-tuned to draw textures, in the toy SD's latent space (as ``sd-vae-ft-mse`` is Stable
Diffusion's VAE fine-tuned on more images, a drop-in for the original).

The shipped toy VAE was trained on flat-coloured shapes scenes only: its decoder cannot draw a texture,
which Stable Diffusion's decoder (trained on natural images) can, so a search in its latent space
(CLIPMasterPrints) only finds flat shapes. This trainer continues the toy VAE on half scenes, half
procedural textures (:mod:`toyworld.textures`), and keeps the latent space the toy SD was trained
in: scenes are encoded to the latents the original encoder gives (an anchor loss on the posterior mean)
and the decoder still reconstructs scenes from the original encoder's latents. (It does not make latent
mining fool the toy CLIP, whose master images are per-pixel noise: see attacks/masterprints/README.md.)

    workbench toy train vae-ft --threads 2 --minutes 40     # resumable; exports to models/vae-ft (not shipped)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL

from ..textures import texture_batch
from ..world import ShapesWorld
from .base import EMATrainer
from .data import random_crops, step_generator, train_batch
from .loop import EMA
from .model_card import write_model_card
from .registry import MODELS_DIR
from .storage import save_model_half
from .vae import psnr, reconstruction_loss, round_trip

__all__ = ["TextureVAETrainer"]


class TextureVAETrainer(EMATrainer):
    """Fine-tunes the toy VAE (encoder and decoder) on scenes and textures; the original stays frozen as the
    anchor of the latent space.

    Args:
        base_dir: the shipped toy VAE folder.
        anchor_weight: weight of the squared distance between the new and the original encoder's
            posterior means on scenes (latents have std about 1.2).
        texture_fraction: the share of textures in each batch.
        seed, batch_size, crop, lr, kl_weight, image_size, device: as :class:`~.vae.VAETrainer`.
    """

    name = "vae-ft"
    module_key = "vae"
    recipe = "toy-vae-finetuned-on-textures-anchored-latents"
    eval_command = (
        'TextureVAETrainer.evaluate (64 held-out scenes, 64 held-out textures): python -c "from '
        "toyworld.train.vae_ft import TextureVAETrainer as T; t = T(); t.warm_start('toyworld/models/vae-ft'); "
        'print(t.evaluate())"'
    )

    def __init__(
        self,
        seed: int = 0,
        batch_size: int = 32,
        crop: int = 32,
        lr: float = 2e-4,
        kl_weight: float = 1e-6,
        anchor_weight: float = 1.0,
        texture_fraction: float = 0.5,
        image_size: int = 64,
        base_dir: Path = MODELS_DIR / "vae",
        device: str | None = None,
    ) -> None:
        if not 0 < texture_fraction < 1 or round(batch_size * texture_fraction) in (0, batch_size):
            raise ValueError(
                f"texture_fraction {texture_fraction} of a batch of {batch_size} leaves no scenes or no textures: "
                "use a fraction in (0, 1) and a batch of at least 2"
            )
        if anchor_weight < 0:
            raise ValueError(f"anchor_weight must be >= 0, got {anchor_weight}")
        torch.manual_seed(seed)
        self.device = torch.device(device or "cpu")
        self.seed, self.batch_size, self.crop, self.lr = seed, batch_size, crop, lr
        self.kl_weight, self.anchor_weight, self.texture_fraction = kl_weight, anchor_weight, texture_fraction
        if not any(Path(base_dir).glob("*.safetensors")):
            raise FileNotFoundError(f"no toy VAE in {base_dir}: train it first (`workbench toy train vae`)")
        load = dict(use_safetensors=True, local_files_only=True, torch_dtype=torch.float32)
        self.base = (
            AutoencoderKL.from_pretrained(str(base_dir), **load).to(self.device).eval().requires_grad_(False)
        )
        self.vae = AutoencoderKL.from_pretrained(str(base_dir), **load).to(self.device).train()
        self.world = ShapesWorld(image_size)
        self.opt = torch.optim.AdamW(self.vae.parameters(), lr=lr, weight_decay=0.0)
        self.ema = EMA(self.vae, 0.999)
        self.eval_scenes = self.world.batch(12345, "val", 0, 64, n_objects=(1, 4), entity_prob=0.15).images
        g = torch.Generator().manual_seed(12345)
        self.eval_textures = texture_batch(64, image_size, g, scenes=self.eval_scenes)
        self._base_eval: tuple[torch.Tensor, float] | None = None

    def lr_at(self, step: int) -> float:
        return self.lr * min(1.0, (step + 1) / 100)

    def step(self, step: int) -> dict[str, float]:
        n_tex = round(self.batch_size * self.texture_fraction)
        n_scene = self.batch_size - n_tex
        g = step_generator(self.seed, step)
        batch = train_batch(self.world, self.seed, step, self.batch_size, n_objects=(1, 4), entity_prob=0.15)
        crops = random_crops(batch.images, self.crop, g)  # (B, 3, c, c)
        scenes = crops[:n_scene].to(self.device)
        textures = texture_batch(n_tex, self.crop, g, scenes=crops[n_scene:]).to(self.device)
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(step)
        noise_g = step_generator(self.seed, step, 1)

        with torch.no_grad():
            old = self.base.encode(scenes * 2 - 1).latent_dist
        new = self.vae.encode(torch.cat([scenes, textures]) * 2 - 1).latent_dist
        anchor = ((new.mean[:n_scene] - old.mean) ** 2).mean()
        z_old = old.mean + old.std * torch.randn(old.mean.shape, generator=noise_g).to(self.device)
        z_tex = new.mean[n_scene:] + new.std[n_scene:] * torch.randn(
            new.mean[n_scene:].shape, generator=noise_g
        ).to(self.device)
        y = (self.vae.decode(torch.cat([z_old, z_tex])).sample + 1) / 2  # (B, 3, c, c)
        rec_scene = reconstruction_loss(y[:n_scene], scenes)
        rec_tex = reconstruction_loss(y[n_scene:], textures)
        kl = new.kl().mean()
        loss = rec_scene + rec_tex + self.anchor_weight * anchor + self.kl_weight * kl
        self.optimise(loss, step)
        return {
            "loss": loss.item(),
            "anchor": anchor.item(),
            "psnr_scene": psnr(y[:n_scene].detach().clamp(0, 1), scenes).mean().item(),
            "psnr_texture": psnr(y[n_scene:].detach().clamp(0, 1), textures).mean().item(),
        }

    @torch.no_grad()
    def ema_model(self) -> AutoencoderKL:
        return self.ema_copy(lambda: AutoencoderKL(**self.vae.config))

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """PSNR (dB) of round trips on held-out scenes and textures, of the original encoder's scene latents
        through the new decoder (what the toy SD's latents become), and the anchor's RMS latent error."""
        model = self.ema_model()
        x, t = self.eval_scenes, self.eval_textures
        if self._base_eval is None:  # the frozen original's side, the same at every evaluation
            self._base_eval = (
                self.base.encode(x * 2 - 1).latent_dist.mode(),
                psnr(round_trip(self.base, t), t).mean().item(),
            )
        old_mean, base_texture_psnr = self._base_eval

        def drawn(latents: torch.Tensor) -> torch.Tensor:
            return ((model.decode(latents).sample + 1) / 2).clamp(0, 1)

        new_mean = model.encode(x * 2 - 1).latent_dist.mode()
        return {
            "psnr_scene": psnr(drawn(new_mean), x).mean().item(),
            "psnr_scene_original_latents": psnr(drawn(old_mean), x).mean().item(),
            "psnr_texture": psnr(round_trip(model, t), t).mean().item(),
            "psnr_texture_original_vae": base_texture_psnr,
            "latent_rms_shift": ((new_mean - old_mean) ** 2).mean().sqrt().item(),
        }

    def warm_start(self, export_dir: Path) -> None:
        self.warm_start_from(AutoencoderKL.from_pretrained(export_dir))

    @torch.no_grad()
    def export(self, out_dir: Path, info: dict[str, Any]) -> None:
        model = self.ema_model()
        model.register_to_config(scaling_factor=float(self.base.config.scaling_factor))
        save_model_half(model, out_dir)
        write_model_card(
            out_dir,
            "Toy VAE fine-tuned on textures (diffusers AutoencoderKL)",
            "The toy VAE (`toyworld/models/vae`) continued on half shapes scenes, half procedural "
            "textures (multi-scale noise, gratings, pixel noise, textured scenes), with the scenes' latents "
            "anchored to the original encoder's: a drop-in decoder for the toy SD's latent space that can "
            "also draw textures. `scaling_factor` is the original's. Weights stored in float16, loaded as "
            "float32.",
            dict(model.config),
            info,
        )
