"""The two ends of every generator's denoising loop, shared by the pipelines of ``generators/``.

Each pipeline keeps its own ``__call__`` (how it predicts the noise is what makes it what it is); what
is the same in all of them, and in diffusers' ``StableDiffusionPipeline``, lives here: the scheduler
step with the step-end callback and progress bar, and decoding the final latents into images.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def scheduler_step(
    pipe: Any,
    i: int,
    t: torch.Tensor,
    latents: torch.Tensor,
    noise_pred: torch.Tensor,
    extra_step_kwargs: dict[str, Any],
    progress_bar: Any,
    num_timesteps: int,
    num_warmup_steps: int = 0,
    callback_on_step_end: Callable | None = None,
) -> torch.Tensor:
    """``x_t -> x_{t-1}`` `(B, 4, h, w)`, then the step-end callback (which may replace the latents)
    and the progress bar, as ``StableDiffusionPipeline`` does."""
    latents = pipe.scheduler.step(noise_pred, t, latents, **extra_step_kwargs, return_dict=False)[0]
    if callback_on_step_end is not None:
        outputs = callback_on_step_end(pipe, i, t, {"latents": latents}) or {}
        latents = outputs.pop("latents", latents)
    if i == num_timesteps - 1 or ((i + 1) > num_warmup_steps and (i + 1) % pipe.scheduler.order == 0):
        progress_bar.update()
    return latents


def decode_latents(
    pipe: Any,
    latents: torch.Tensor,
    output_type: str,
    generator: torch.Generator | list[torch.Generator] | None = None,
    safety_check: bool = False,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[Any, list[bool] | None]:
    """Latents `(B, 4, h, w)` -> images in ``output_type`` (``"latent"`` returns them unchanged) and the
    safety checker's verdicts (``None`` when it did not run)."""
    if output_type == "latent":
        return latents, None
    image = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False, generator=generator)[
        0
    ]
    has_nsfw_concept = None
    if safety_check:
        image, has_nsfw_concept = pipe.run_safety_checker(image, device, dtype)
    do_denormalize = (
        [True] * image.shape[0] if has_nsfw_concept is None else [not n for n in has_nsfw_concept]
    )
    image = pipe.image_processor.postprocess(image, output_type=output_type, do_denormalize=do_denormalize)
    return image, has_nsfw_concept
