"""Toy VAE quality: PSNR of the reconstruction of held-out 1-4 object scenes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from workbench.runs.items import map_batches

from ..train.vae import psnr
from ..world import ShapesWorld

if TYPE_CHECKING:
    from workbench.runtime import Runtime

__all__ = ["evaluate_vae"]


@torch.no_grad()
def evaluate_vae(
    vae, n: int = 256, seed: int = 999, runtime: Runtime | None = None, batch: int = 256
) -> dict[str, float]:
    """Mean PSNR (dB) of ``vae``'s reconstructions (the latent mode, decoded) of ``n`` test scenes.

    With ``runtime``, the scenes are rendered and reconstructed in fixed batches of ``batch`` shared among
    its processes (the same numbers on any number of processes).
    """
    world = ShapesWorld(64)
    device = next(vae.parameters()).device

    def reconstruct(start: int, stop: int) -> list[float]:
        x = world.batch(seed, "test", start, stop - start, n_objects=(1, 4), entity_prob=0.1).images
        z = vae.encode((x * 2 - 1).to(device)).latent_dist.mode()
        y = ((vae.decode(z).sample.float().cpu() + 1) / 2).clamp(0, 1)
        return psnr(y, x).tolist()

    values = map_batches(runtime, n, batch, reconstruct)
    return {"psnr": sum(values) / len(values)}
