"""Caption-guided image-to-image diffusion on a diffusers ``StableDiffusionImg2ImgPipeline``."""

from __future__ import annotations

import logging

import torch

from attacks.image.ops import resize
from workbench.latents import decode_images, encode_images, refine_latents

logger = logging.getLogger(__name__)


def native_size(pipe) -> int:
    """The side of the images the pipeline's UNet was trained on (``sample_size * vae_scale_factor``)."""
    return int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)


def work_size(pipe, images: torch.Tensor, resolution: int | str) -> tuple[int, int]:
    """The ``(h, w)`` the pipeline runs at: ``"native"`` (the model's training size, square),
    ``"input"`` (the input size rounded down to a multiple of 8) or an int side."""
    factor = int(pipe.vae_scale_factor)
    if resolution == "native":
        side = native_size(pipe)
        return side, side
    if resolution == "input":
        h, w = images.shape[-2:]
        return max(factor, h // factor * factor), max(factor, w // factor * factor)
    side = int(resolution)
    if side % factor:
        raise ValueError(f"resolution must be a multiple of {factor} (the VAE's scale factor), got {side}")
    return side, side


@torch.no_grad()
def vae_roundtrip(pipe, images: torch.Tensor) -> torch.Tensor:
    """Encode with the pipeline's VAE (posterior mean) and decode: ``(B, 3, h, w)`` [0, 1] -> same."""
    vae = pipe.vae
    x = (images * 2 - 1).to(device=vae.device, dtype=vae.dtype)  # (B, 3, h, w) in [-1, 1]
    latents = vae.encode(x).latent_dist.mode()  # (B, 4, h/f, w/f)
    out = vae.decode(latents).sample  # (B, 3, h, w)
    return ((out.float() + 1) / 2).clamp(0, 1)


@torch.no_grad()
def img2img(
    pipe,
    images: torch.Tensor,
    prompts: list[str],
    strength: float,
    guidance_scale: float,
    num_inference_steps: int,
    generator: torch.Generator | list[torch.Generator] | None,
    resolution: int | str = "native",
    negative_prompt: str | None = None,
    decoder_inversion_steps: int = 0,
    decoder_inversion_lr: float = 0.1,
) -> torch.Tensor:
    """Regenerate a batch with image-to-image diffusion, all images in one pipeline call.

    The images are resized to the work size (see :func:`work_size`), noised to ``strength`` of the
    schedule, denoised with ``prompts`` at ``guidance_scale``, and resized back. When ``strength``
    leaves no denoising step (``int(num_inference_steps * strength) < 1``) the images only pass
    through the VAE.

    Args:
        pipe: a `diffusers.StableDiffusionImg2ImgPipeline`.
        images (`torch.Tensor` of shape `(B, 3, H, W)`): float in [0, 1].
        prompts: B prompts (``""`` for unconditional regeneration).
        strength: img2img strength in [0, 1].
        guidance_scale: classifier-free guidance (<= 1 turns it off).
        num_inference_steps: the schedule's steps at strength 1.
        generator: one `torch.Generator` per image (batching-independent results) or one shared.
        resolution: ``"native"``, ``"input"`` or an int side.
        decoder_inversion_steps: Adam steps fitting the starting latents to the image through the VAE
            decoder (:func:`attacks.watermarks.inversion.refine_latents`) instead of taking the encoder's
            latents as they are; 0 (default) is plain img2img. A VAE whose encoder is far from the
            decoder's inverse (the toy SD's) otherwise redraws small shapes and textures even at
            strength 0.
        decoder_inversion_lr: their learning rate.

    Returns:
        `torch.Tensor` of shape `(B, 3, H, W)` in [0, 1], on the input's device.
    """
    if len(prompts) != images.shape[0]:
        raise ValueError(f"got {len(prompts)} prompts for {images.shape[0]} images")
    h, w = images.shape[-2:]
    size = work_size(pipe, images, resolution)
    x = resize(images.float(), size)  # (B, 3, h', w')
    start = x.to(device=pipe.device, dtype=pipe.vae.dtype)
    if decoder_inversion_steps > 0:
        # (B, 4, h'/f, w'/f) scaled latents: the img2img pipeline takes 4-channel input as latents
        start = refine_latents(pipe, encode_images(pipe, x), x, decoder_inversion_steps, decoder_inversion_lr)
    if int(num_inference_steps * strength) < 1:
        out = vae_roundtrip(pipe, x) if decoder_inversion_steps <= 0 else decode_images(pipe, start)
    else:
        out = pipe(
            prompt=list(prompts),
            image=start,
            strength=strength,
            guidance_scale=guidance_scale,
            num_inference_steps=num_inference_steps,
            negative_prompt=[negative_prompt] * len(prompts) if negative_prompt else None,
            generator=generator,
            output_type="pt",
        ).images  # (B, 3, h', w') in [0, 1]
    return resize(out.float().to(images.device), (h, w))
