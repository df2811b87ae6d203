"""DDIM inversion on a diffusers Stable Diffusion pipeline: images -> the initial noise that would
have generated them (Tree-Ring and Gaussian Shading detect their key there)."""

from __future__ import annotations

import logging

import torch

from attacks.image.ops import resize
from workbench.latents import encode_images, refine_latents

logger = logging.getLogger(__name__)

__all__ = [
    "ddim_invert",
    "ddim_pipeline",
    "empty_prompt_embeds",
    "encode_images",
    "invert_latents",
    "refine_latents",
    "vae_factor",
]


def vae_factor(pipe) -> int:
    return int(pipe.vae_scale_factor)


@torch.no_grad()
def empty_prompt_embeds(pipe, batch_size: int) -> torch.Tensor:
    """Text-encoder states of the empty prompt ``(B, 77, D)``."""
    embeds, _ = pipe.encode_prompt([""] * batch_size, pipe.device, 1, False)
    return embeds


@torch.no_grad()
def ddim_invert(
    pipe,
    images: torch.Tensor,
    num_inference_steps: int,
    size: tuple[int, int] | None = None,
    decoder_steps: int = 0,
    decoder_lr: float = 0.1,
    fit_input_size: bool = False,
    vae=None,
) -> torch.Tensor:
    """Invert images to initial latents with ``DDIMInverseScheduler`` (empty prompt, guidance 1).

    Args:
        pipe: any diffusers Stable Diffusion pipeline (its VAE, text encoder, UNet and scheduler config).
        images (`torch.Tensor` of shape `(B, 3, H, W)`): float in [0, 1].
        num_inference_steps: inversion steps (the generation's step count works best).
        size: ``(h, w)`` the images are resized to first (the generation size).
        decoder_steps, decoder_lr: decoder inversion after encoding (:func:`refine_latents`; 0: none).
        fit_input_size: decoder inversion fits the images at their own size (the decoder's output resized to
            it) rather than resized to ``size``.
        vae: the ``AutoencoderKL`` whose encoder gives the latents (``None``: the pipeline's own; see
            :func:`workbench.latents.load_inversion_vae`).

    Returns:
        `torch.Tensor` of shape `(B, 4, h/f, w/f)`: the estimated initial noise, float32.
    """
    given = images.float()  # (B, 3, H', W')
    if size is not None:
        images = resize(given, size)
    latents = encode_images(pipe, images, vae)  # (B, 4, h/f, w/f)
    target = given if fit_input_size else images
    latents = refine_latents(pipe, latents, target, decoder_steps, decoder_lr)  # (B, 4, h/f, w/f)
    return invert_latents(pipe, latents, num_inference_steps)


@torch.no_grad()
def invert_latents(pipe, latents: torch.Tensor, num_inference_steps: int) -> torch.Tensor:
    """Run the DDIM inverse schedule from clean latents ``(B, 4, h, w)`` to noise ``(B, 4, h, w)``."""
    from diffusers import DDIMInverseScheduler

    embeds = empty_prompt_embeds(pipe, latents.shape[0])  # (B, 77, D)
    scheduler = DDIMInverseScheduler.from_config(pipe.scheduler.config)
    scheduler.set_timesteps(num_inference_steps, device=latents.device)
    latents = latents.to(device=pipe.unet.device, dtype=pipe.unet.dtype)
    for t in scheduler.timesteps:
        noise = pipe.unet(latents, t, encoder_hidden_states=embeds).sample  # (B, 4, h, w)
        latents = scheduler.step(noise, t, latents).prev_sample
    return latents.float()


def ddim_pipeline(pipe):
    """A ``StableDiffusionPipeline`` sharing ``pipe``'s modules, with a ``DDIMScheduler`` from its
    scheduler config (generation must match the DDIM inversion used for detection)."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    if isinstance(pipe, StableDiffusionPipeline) and isinstance(pipe.scheduler, DDIMScheduler):
        return pipe
    components = {**pipe.components, "scheduler": DDIMScheduler.from_config(pipe.scheduler.config)}
    out = StableDiffusionPipeline(**components, requires_safety_checker=False)
    out.set_progress_bar_config(disable=True)
    return out
