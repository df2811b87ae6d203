"""Toy VAE: a diffusers ``AutoencoderKL`` (downsampling factor 4) trained on shapes-world scenes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL

from ..world import ShapesWorld
from .base import EMATrainer
from .data import random_crops, step_generator, train_batch
from .loop import EMA
from .model_card import write_model_card
from .storage import save_model_half

VAE_CONFIG: dict[str, Any] = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 3,
    up_block_types=("UpDecoderBlock2D",) * 3,
    block_out_channels=(32, 64, 64),
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=16,
    sample_size=64,
)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images in [0, 1]: (B, C, H, W) x2 -> (B,)."""
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(1.0 / mse)


def reconstruction_loss(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """L1 + L2 between a decoding and its target, both in [0, 1]."""
    return (y - x).abs().mean() + ((y - x) ** 2).mean()


@torch.no_grad()
def round_trip(vae: AutoencoderKL, x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] after encode (posterior mode) and decode, clamped to [0, 1]: (B, 3, H, W) -> same."""
    return ((vae.decode(vae.encode(x * 2 - 1).latent_dist.mode()).sample + 1) / 2).clamp(0, 1)


class VAETrainer(EMATrainer):
    name = "vae"
    module_key = "vae"

    def __init__(
        self,
        seed: int = 0,
        batch_size: int = 32,
        crop: int = 32,
        lr: float = 1e-3,
        kl_weight: float = 1e-6,
        image_size: int = 64,
        device: str | None = None,
    ) -> None:
        torch.manual_seed(seed)
        self.device = torch.device(device or "cpu")
        self.seed, self.batch_size, self.crop, self.lr, self.kl_weight = seed, batch_size, crop, lr, kl_weight
        self.world = ShapesWorld(image_size)
        self.vae = AutoencoderKL(**{**VAE_CONFIG, "sample_size": image_size})
        self.vae.to(self.device)
        self.opt = torch.optim.AdamW(self.vae.parameters(), lr=lr, weight_decay=0.0)
        self.ema = EMA(self.vae, 0.999)
        self.eval_batch = self.world.batch(12345, "val", 0, 64, n_objects=(1, 4), entity_prob=0.15)

    def lr_at(self, step: int) -> float:
        return self.lr * min(1.0, (step + 1) / 200)

    def step(self, step: int) -> dict[str, float]:
        batch = train_batch(self.world, self.seed, step, self.batch_size, n_objects=(1, 4), entity_prob=0.15)
        x = random_crops(batch.images, self.crop, step_generator(self.seed, step)).to(
            self.device
        )  # (B, 3, c, c)
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(step)
        post = self.vae.encode(x * 2 - 1).latent_dist
        z = post.mean + post.std * torch.randn(
            post.mean.shape, generator=step_generator(self.seed, step, 1)
        ).to(self.device)
        y = (self.vae.decode(z).sample + 1) / 2
        rec = reconstruction_loss(y, x)
        kl = post.kl().mean()
        loss = rec + self.kl_weight * kl
        self.optimise(loss, step)
        return {"loss": loss.item(), "psnr": psnr(y.detach().clamp(0, 1), x).mean().item()}

    @torch.no_grad()
    def ema_model(self) -> AutoencoderKL:
        return self.ema_copy(lambda: AutoencoderKL(**self.vae.config))

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        model = self.ema_model()
        x = self.eval_batch.images
        return {"psnr": psnr(round_trip(model, x), x).mean().item()}

    def warm_start(self, export_dir: Path) -> None:
        self.warm_start_from(AutoencoderKL.from_pretrained(export_dir))

    @torch.no_grad()
    def export(self, out_dir: Path, info: dict[str, Any]) -> None:
        model = self.ema_model()
        x = self.world.batch(777, "val", 0, 256, n_objects=(1, 4)).images
        latents = model.encode(x * 2 - 1).latent_dist.mode()
        model.register_to_config(scaling_factor=float(1.0 / latents.std()))
        save_model_half(model, out_dir)
        write_model_card(
            out_dir,
            "Toy VAE (diffusers AutoencoderKL)",
            "Encodes 64x64 shapes-world images to 4x16x16 latents. `scaling_factor` = 1 / std of the latents "
            "of 256 validation scenes. Weights stored in float16, loaded as float32.",
            dict(model.config),
            {**info, "metrics": {**info.get("metrics", {}), "latent_std": float(latents.std())}},
        )


def count_params(m: torch.nn.Module) -> float:
    return sum(p.numel() for p in m.parameters()) / 1e6


__all__ = ["VAETrainer", "VAE_CONFIG", "psnr", "reconstruction_loss", "round_trip", "count_params", "math"]
