"""A tiny random-weight GCDP pipeline from SD-1.5-shaped dummy components (diffusers' ``get_dummy_components``
habit): the code path of the real one, in seconds."""

from __future__ import annotations

from typing import Any

import torch

from workbench.dummy import dummy_sd_pipeline

from .model import GCDPDenoiser
from .pipeline import GCDPPipeline
from .scheduler import AbsorbingCategoricalScheduler

__all__ = ["gcdp_pipeline_from_sd", "open_residuals", "tiny_gcdp_pipeline"]


def gcdp_pipeline_from_sd(sd_pipe: Any, num_classes: int = 8, layout_embed_dim: int = 8) -> GCDPPipeline:
    """A GCDP pipeline on a text-to-image pipeline's VAE, text encoder, tokenizer and scheduler, its denoiser
    started from the pipeline's UNet (:meth:`GCDPDenoiser.from_unet`)."""
    from diffusers import DDIMScheduler

    pipe = GCDPPipeline(
        vae=sd_pipe.vae,
        text_encoder=sd_pipe.text_encoder,
        tokenizer=sd_pipe.tokenizer,
        denoiser=GCDPDenoiser.from_unet(sd_pipe.unet, num_classes, layout_embed_dim),
        scheduler=DDIMScheduler.from_config(sd_pipe.scheduler.config),
        layout_scheduler=AbsorbingCategoricalScheduler(
            num_classes, sd_pipe.scheduler.config.num_train_timesteps
        ),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_gcdp_pipeline(seed: int = 0, image_size: int = 32) -> GCDPPipeline:
    """A random-weight GCDP pipeline: 32 px images, 16x16 layouts of 8 classes."""
    return gcdp_pipeline_from_sd(dummy_sd_pipeline(seed=seed, image_size=image_size))


@torch.no_grad()
def open_residuals(denoiser: GCDPDenoiser, std: float = 0.5, seed: int = 0) -> None:
    """Give the layout's zero-initialised residuals random weights, as training would: the layout now steers."""
    g = torch.Generator().manual_seed(seed)
    enc = denoiser.layout_encoder
    for conv in [*enc.zero_convs, enc.zero_mid, denoiser.unet.conv_in.zero]:
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * std)
