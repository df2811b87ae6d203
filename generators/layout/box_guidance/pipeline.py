"""Training-free box guidance: the cross-attention energy of each phrase against its box (or region),
back-propagated into the latents during the first denoising steps (BoxDiff, layout guidance)."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import StableDiffusionPipeline
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import retrieve_timesteps
from diffusers.utils import BaseOutput

from generators.sampling import decode_latents
from workbench.sampling import PIPELINE_SAMPLING

from ..common import AnyLayout, as_prompt_list, guidance_step_size, layouts_for, phrase_maps
from ..energy import ENERGIES, SampleTargets
from ..processors import AttentionStore, StopForward, recording_processors, token_count
from .config import BoxGuidanceConfig

logger = logging.getLogger(__name__)

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> from workbench.dummy import dummy_sd_components
        >>> from generators.layout import BoxLayout, BoxGuidanceConfig, StableDiffusionBoxGuidancePipeline
        >>> pipe = StableDiffusionBoxGuidancePipeline(**dummy_sd_components(), requires_safety_checker=False)
        >>> layout = BoxLayout(phrases=["a red circle", "a blue square"],
        ...                    boxes=[(0.0, 0.25, 0.5, 0.75), (0.5, 0.25, 1.0, 0.75)])
        >>> out = pipe("a red circle on the left and a blue square on the right", layout=layout,
        ...            guidance=BoxGuidanceConfig.preset("fast", guided_steps=1), num_inference_steps=2,
        ...            output_type="pt", return_attention=True)
        >>> tuple(out.images.shape), tuple(out.attention_maps[0].shape)
        ((1, 3, 32, 32), (2, 32, 32))

        ```
"""


@dataclass
class BoxGuidancePipelineOutput(BaseOutput):
    """Output of :class:`StableDiffusionBoxGuidancePipeline`.

    Args:
        images: PIL images, an array, or `torch.Tensor` of shape `(B, 3, H, W)` in [0, 1] (``output_type="pt"``).
        attention_maps: with ``return_attention=True``, per image a `torch.Tensor` of shape `(N, H, W)` in
            [0, 1]: each phrase's cross-attention averaged over steps and the used layers.
        energies: per guided step, the mean energy `(float)` before its update (empty when guidance is off).
    """

    images: Any
    attention_maps: list[torch.Tensor] | None = None
    energies: list[float] | None = None


class StableDiffusionBoxGuidancePipeline(StableDiffusionPipeline):
    r"""Stable Diffusion with phrases steered into boxes by cross-attention guidance.

    The components are those of :class:`diffusers.StableDiffusionPipeline` (any SD-1.x / 2.x checkpoint,
    or the toy SD). With guidance off the output equals ``StableDiffusionPipeline``'s for the same seed.
    Recording processors are installed on the UNet's cross-attention layers only during the call.
    """

    def attention_side(self, latent_hw: tuple[int, int], largest: int = 16) -> int:
        """The default attention resolution: the largest side at most ``largest`` among this UNet's
        cross-attention maps for latents ``latent_hw`` (the smallest side when none is that small)."""
        side = max(latent_hw)
        sides = {
            side // 2**level
            for level, block in enumerate(self.unet.config.down_block_types)
            if "CrossAttn" in block and side // 2**level >= 1
        }
        if not sides:
            raise ValueError("this UNet has no cross-attention blocks: box guidance needs them")
        small = [s for s in sides if s <= largest]
        return max(small) if small else min(sides)

    def map_shapes(self, latent_hw: tuple[int, int], resolution: int) -> list[tuple[int, int]]:
        """Shapes ``(h, w)`` of the attention maps at ``resolution`` for latents ``latent_hw``."""
        count = token_count(latent_hw, resolution)
        f = max(latent_hw) // resolution
        shape = (math.ceil(latent_hw[0] / f), math.ceil(latent_hw[1] / f))
        assert shape[0] * shape[1] == count
        return [shape]

    def _energy_step(
        self,
        latents: torch.Tensor,
        t: torch.Tensor,
        cond_embeds: torch.Tensor,
        targets: list[SampleTargets],
        store: AttentionStore,
        energy_fn: Any,
        step: float,
    ) -> tuple[torch.Tensor, float]:
        """One gradient step of the latents `(B, 4, h, w)` down the energy; returns them and the energy."""
        with torch.enable_grad():
            x = latents.detach().requires_grad_(True)
            with store.recording():
                try:
                    self.unet(self.scheduler.scale_model_input(x, t), t, encoder_hidden_states=cond_embeds)
                except StopForward:
                    pass
            if not store.maps:
                seen = sorted(int(math.isqrt(s)) for s in store.seen)
                raise ValueError(
                    f"no cross-attention layer records at the requested attention resolution; this UNet's "
                    f"cross-attention maps have sides {seen} at this image size: set attention_resolution to one"
                )
            energy = energy_fn(store.maps, targets)  # (B,)
            grad = torch.autograd.grad(energy.sum(), x)[0]  # (B, 4, h, w)
        store.maps = {}
        return (latents - step * grad).to(latents.dtype), float(energy.detach().mean())

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        layout: AnyLayout | Sequence[AnyLayout],
        guidance: BoxGuidanceConfig | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = PIPELINE_SAMPLING.num_inference_steps,
        guidance_scale: float = PIPELINE_SAMPLING.guidance_scale,
        negative_prompt: str | list[str] | None = None,
        num_images_per_prompt: int = 1,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        return_attention: bool = False,
    ) -> BoxGuidancePipelineOutput | tuple:
        r"""Generate images whose phrases fill their boxes.

        Args:
            prompt: one prompt or a list; each layout phrase must occur in its prompt word for word.
            layout: a :class:`BoxLayout` / :class:`SemanticLayout` for every prompt, or one per prompt.
            guidance: the guidance settings (default :meth:`BoxGuidanceConfig.preset` ``"fast"``);
                ``BoxGuidanceConfig(guided_steps=0)`` turns guidance off.
            height, width: image size in pixels (default: the UNet's sample size times the VAE factor).
            num_inference_steps, guidance_scale, negative_prompt, num_images_per_prompt, eta, generator,
            latents, output_type, return_dict: as in :class:`diffusers.StableDiffusionPipeline`.
            return_attention: also return each phrase's attention map per image.

        Returns:
            :class:`BoxGuidancePipelineOutput` (or a tuple ``(images, attention_maps, energies)``).

        Raises:
            LayoutError: a phrase absent from its prompt, or a layout count that does not match the prompts.
        """
        # 0. Default height and width to unet
        height = height or self.unet.config.sample_size * self.vae_scale_factor
        width = width or self.unet.config.sample_size * self.vae_scale_factor
        guidance = guidance if guidance is not None else BoxGuidanceConfig.preset("fast")

        # 1. Check inputs: one layout per prompt, every phrase in its prompt
        prompts = as_prompt_list(prompt)
        layouts = layouts_for(prompts, layout)
        self.check_inputs(prompts, height, width, None, negative_prompt)
        self._guidance_scale = guidance_scale
        self._guidance_rescale = 0.0
        self._clip_skip = None
        self._cross_attention_kwargs = None
        self._interrupt = False
        batch_size = len(prompts)
        device = self._execution_device

        # 2. Encode input prompt
        prompt_embeds, negative_prompt_embeds = self.encode_prompt(
            prompts, device, num_images_per_prompt, self.do_classifier_free_guidance, negative_prompt
        )
        cond_embeds = prompt_embeds  # (B * n, T, D): the guidance pass sees the conditional text only
        if self.do_classifier_free_guidance:
            prompt_embeds = torch.cat([negative_prompt_embeds, prompt_embeds])

        # 3. Prepare timesteps
        timesteps, num_inference_steps = retrieve_timesteps(self.scheduler, num_inference_steps, device)

        # 4. Prepare latent variables
        latents = self.prepare_latents(
            batch_size * num_images_per_prompt,
            self.unet.config.in_channels,
            height,
            width,
            prompt_embeds.dtype,
            device,
            generator,
            latents,
        )
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator, eta)

        # 5. Layout targets at the attention maps' resolution
        latent_hw = (latents.shape[-2], latents.shape[-1])
        guided = guidance.enabled
        record = guided or return_attention
        targets: list[SampleTargets] = []
        store = None
        if record:
            shapes = self.map_shapes(
                latent_hw, guidance.attention_resolution or self.attention_side(latent_hw)
            )
            store = AttentionStore({h * w for h, w in shapes}, early_exit=guidance.early_exit)
            targets = [
                SampleTargets.build(lay, p, self.tokenizer, shapes, device)
                for lay, p in zip(layouts, prompts)
                for _ in range(num_images_per_prompt)
            ]
        energy_fn = ENERGIES.get(guidance.energy)
        n_guided = min(guidance.guided_steps, len(timesteps)) if guided else 0
        decay = (
            torch.linspace(1.0, 0.5, max(n_guided, 1)).sqrt().tolist()
            if guidance.decay == "sqrt_linear"
            else None
        )
        energies: list[float] = []

        # 6. Denoising loop (recording processors installed only for this loop)
        with _maybe_recording(self.unet, store, guidance.places):
            with self.progress_bar(total=num_inference_steps) as progress_bar:
                for i, t in enumerate(timesteps):
                    # 6.1 guidance: move the latents down the cross-attention energy
                    if i < n_guided:
                        step = (
                            guidance.scale
                            * guidance_step_size(self.scheduler, t)
                            * (decay[i] if decay else 1.0)
                        )
                        for _ in range(guidance.iterations):
                            latents, e = self._energy_step(
                                latents, t, cond_embeds, targets, store, energy_fn, step
                            )
                            energies.append(e)

                    # 6.2 predict the noise residual (classifier-free guidance batch)
                    latent_model_input = (
                        torch.cat([latents] * 2) if self.do_classifier_free_guidance else latents
                    )
                    latent_model_input = self.scheduler.scale_model_input(latent_model_input, t)
                    n = latents.shape[0]
                    select = slice(n, 2 * n) if self.do_classifier_free_guidance else None
                    with store.accumulating(select) if return_attention else contextlib.nullcontext():
                        noise_pred = self.unet(
                            latent_model_input, t, encoder_hidden_states=prompt_embeds, return_dict=False
                        )[0]

                    # 6.3 perform guidance
                    if self.do_classifier_free_guidance:
                        noise_pred_uncond, noise_pred_text = noise_pred.chunk(2)
                        noise_pred = noise_pred_uncond + self.guidance_scale * (
                            noise_pred_text - noise_pred_uncond
                        )

                    # 6.4 compute the previous noisy sample x_t -> x_t-1
                    latents = self.scheduler.step(
                        noise_pred, t, latents, **extra_step_kwargs, return_dict=False
                    )[0]
                    progress_bar.update()

        # 7. Decode
        image, _ = decode_latents(self, latents, output_type, generator)
        attention_maps = None
        if return_attention:
            mean_maps = store.mean_maps()
            attention_maps = [
                phrase_maps(mean_maps, tgt.token_indices, b, (height, width)) for b, tgt in enumerate(targets)
            ]
        self.maybe_free_model_hooks()
        if not return_dict:
            return image, attention_maps, energies
        return BoxGuidancePipelineOutput(images=image, attention_maps=attention_maps, energies=energies)


def _maybe_recording(unet: Any, store: AttentionStore | None, places: Sequence[str]):
    return recording_processors(unet, store, places) if store is not None else contextlib.nullcontext()
