"""Region prompts: each region of a layout is denoised with its own prompt and the predictions are fused
per pixel at every step (MultiDiffusion, Bar-Tal et al. 2023, region-based generation)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import StableDiffusionPipeline
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import retrieve_timesteps
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from generators.sampling import decode_latents
from workbench.latents import encode_images
from workbench.sampling import PIPELINE_SAMPLING

from ..common import AnyLayout, as_prompt_list, layouts_for
from ..layout import LayoutError
from .config import RegionsConfig

logger = logging.getLogger(__name__)

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> from workbench.dummy import dummy_sd_components
        >>> from generators.layout import BoxLayout, StableDiffusionRegionsPipeline
        >>> pipe = StableDiffusionRegionsPipeline(**dummy_sd_components(), requires_safety_checker=False)
        >>> layout = BoxLayout(phrases=["a red circle", "a blue square"],
        ...                    boxes=[(0.0, 0.25, 0.5, 0.75), (0.5, 0.25, 1.0, 0.75)])
        >>> out = pipe("a red circle on the left and a blue square on the right", layout=layout,
        ...            num_inference_steps=2, output_type="pt")
        >>> tuple(out.images.shape)
        (1, 3, 32, 32)

        ```
"""


@dataclass
class RegionsPipelineOutput(BaseOutput):
    """Output of :class:`StableDiffusionRegionsPipeline`.

    Args:
        images: PIL images, an array, or `torch.Tensor` of shape `(B, 3, H, W)` in [0, 1] (``output_type="pt"``).
        region_masks: per image, the fusion masks `(N + 1, h, w)` at latent resolution (background first).
    """

    images: Any
    region_masks: list[torch.Tensor] | None = None


class StableDiffusionRegionsPipeline(StableDiffusionPipeline):
    r"""Stable Diffusion with one prompt per layout region, fused per step (MultiDiffusion).

    The background (everything outside the regions) follows the full prompt; region ``i`` follows
    ``region_prompts[i]`` (default: its layout phrase). Components are those of
    :class:`diffusers.StableDiffusionPipeline`.
    """

    def _rows(
        self, prompts: list[str], layouts: list[AnyLayout], region_prompts: Sequence[Sequence[str]] | None
    ) -> tuple[list[str], list[int]]:
        """Row texts (per sample: the full prompt, then each region's prompt) and each sample's first row."""
        if region_prompts is not None and len(region_prompts) != len(prompts):
            raise LayoutError(f"{len(prompts)} prompts but {len(region_prompts)} lists of region prompts")
        texts, starts = [], []
        for b, (prompt, lay) in enumerate(zip(prompts, layouts)):
            regions = list(region_prompts[b]) if region_prompts is not None else list(lay.phrases)
            if len(regions) != len(lay.phrases):
                raise LayoutError(
                    f"prompt {b}: {len(regions)} region prompts for {len(lay.phrases)} layout regions; give one per region"
                )
            starts.append(len(texts))
            texts += [prompt] + regions
        return texts, starts

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        layout: AnyLayout | Sequence[AnyLayout],
        region_prompts: Sequence[Sequence[str]] | None = None,
        config: RegionsConfig | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = PIPELINE_SAMPLING.num_inference_steps,
        guidance_scale: float = PIPELINE_SAMPLING.guidance_scale,
        negative_prompt: str | None = None,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> RegionsPipelineOutput | tuple:
        r"""Generate one image per prompt with each layout region following its own prompt.

        Args:
            prompt: one prompt or a list (the background's prompt); layout phrases must occur in it.
            layout: a :class:`BoxLayout` / :class:`SemanticLayout` for every prompt, or one per prompt.
            region_prompts: per prompt, one text per region (default: the regions' phrases).
            config: fusion settings (default :class:`RegionsConfig`).
            height, width, num_inference_steps, guidance_scale, negative_prompt, eta, generator, latents,
            output_type, return_dict: as in :class:`diffusers.StableDiffusionPipeline`.

        Returns:
            :class:`RegionsPipelineOutput` (or a tuple ``(images, region_masks)``).
        """
        # 0. Default height and width to unet
        height = height or self.unet.config.sample_size * self.vae_scale_factor
        width = width or self.unet.config.sample_size * self.vae_scale_factor
        config = config or RegionsConfig()

        # 1. Check inputs
        prompts = as_prompt_list(prompt)
        layouts = layouts_for(prompts, layout)
        self.check_inputs(prompts, height, width, None, negative_prompt)
        texts, starts = self._rows(prompts, layouts, region_prompts)
        self._guidance_scale = guidance_scale
        self._guidance_rescale = 0.0
        self._clip_skip = None
        self._cross_attention_kwargs = None
        self._interrupt = False
        batch_size = len(prompts)
        device = self._execution_device
        cfg = self.do_classifier_free_guidance

        # 2. Encode the rows' prompts (uncond rows: one per text, the negative prompt)
        cond, uncond = self.encode_prompt(
            texts, device, 1, cfg, [negative_prompt or ""] * len(texts) if cfg else None
        )

        # 3. Prepare timesteps
        timesteps, num_inference_steps = retrieve_timesteps(self.scheduler, num_inference_steps, device)

        # 4. Prepare latent variables
        latents = self.prepare_latents(
            batch_size, self.unet.config.in_channels, height, width, cond.dtype, device, generator, latents
        )
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator, eta)
        h, w = latents.shape[-2:]

        # 5. Fusion masks per row at latent resolution: background = 1 - union of the regions
        masks, owner = [], []
        for b, lay in enumerate(layouts):
            fg = lay.region_masks(h, w).to(device, latents.dtype) * config.region_weight  # (N, h, w)
            bg = (1 - fg.sum(0, keepdim=True) / config.region_weight).clamp_min(0)  # (1, h, w)
            masks.append(torch.cat([bg, fg]))
            owner += [b] * (1 + len(lay))
        row_masks = torch.cat(masks)[:, None]  # (R, 1, h, w)
        owner_t = torch.tensor(owner, device=device)
        is_region = torch.ones(len(texts), dtype=torch.bool, device=device)
        starts_t = torch.tensor(starts, device=device)
        is_region[starts_t] = False
        union = (torch.stack([m[1:].sum(0) for m in masks]) > 0)[:, None]  # (B, 1, h, w)
        n_bootstrap = int(round(config.bootstrap_fraction * len(timesteps)))
        flat = None  # (R, 4, h, w): latents of each row's flat bootstrap background
        if n_bootstrap > 0:
            flat = self._flat_backgrounds(
                self._bootstrap_colours(config, len(texts), generator, device), height, width, latents.dtype
            )

        # 6. Denoising loop
        with self.progress_bar(total=num_inference_steps) as progress_bar:
            for i, t in enumerate(timesteps):
                # 6.1 each row sees the current latents (bootstrap: regions on a noised flat background)
                x = latents[owner_t]  # (R, 4, h, w)
                bootstrap = i < n_bootstrap
                if bootstrap:
                    g = generator[0] if isinstance(generator, list) else generator
                    noise = randn_tensor(flat.shape, generator=g, device=device, dtype=flat.dtype)
                    bg = self.scheduler.add_noise(flat, noise, t.reshape(1))
                    if config.background_bootstrap:  # the sample itself: flat outside every region
                        latents = torch.where(union, latents, bg[starts_t])
                        x = latents[owner_t]
                    inside = torch.where(is_region[:, None, None, None], row_masks.clamp(max=1).bool(), True)
                    x = torch.where(inside, x, bg)

                # 6.2 predict the noise of every row (uncond per row while bootstrapping, per sample after)
                if cfg and bootstrap:
                    model_in = torch.cat([x, x])
                    embeds = torch.cat([uncond, cond])
                elif cfg:
                    model_in = torch.cat([latents, x])
                    embeds = torch.cat([uncond[torch.tensor(starts, device=device)], cond])
                else:
                    model_in, embeds = x, cond
                model_in = self.scheduler.scale_model_input(model_in, t)
                eps = self.unet(model_in, t, encoder_hidden_states=embeds, return_dict=False)[0]

                # 6.3 classifier-free guidance per row
                if cfg:
                    eps_uncond, eps_text = eps[: -len(texts)], eps[-len(texts) :]
                    if not bootstrap:
                        eps_uncond = eps_uncond[owner_t]
                    eps = eps_uncond + self.guidance_scale * (eps_text - eps_uncond)  # (R, 4, h, w)

                # 6.4 fuse the rows of each sample, weighted by their masks
                num = torch.zeros_like(latents).index_add_(0, owner_t, eps * row_masks)
                den = torch.zeros(batch_size, 1, h, w, device=device, dtype=eps.dtype).index_add_(
                    0, owner_t, row_masks
                )
                noise_pred = num / den.clamp_min(1e-8)

                # 6.5 compute the previous noisy sample x_t -> x_t-1
                latents = self.scheduler.step(noise_pred, t, latents, **extra_step_kwargs, return_dict=False)[
                    0
                ]
                progress_bar.update()

        # 7. Decode
        image, _ = decode_latents(self, latents, output_type, generator)
        region_masks = [m.cpu() for m in masks]
        self.maybe_free_model_hooks()
        if not return_dict:
            return image, region_masks
        return RegionsPipelineOutput(images=image, region_masks=region_masks)

    @staticmethod
    def _bootstrap_colours(
        config: RegionsConfig, rows: int, generator: Any, device: torch.device
    ) -> torch.Tensor:
        """Colours `(rows, 3)` in [0, 1]: random per row (MultiDiffusion), or the configured one."""
        if config.bootstrap_color == "random":
            g = generator[0] if isinstance(generator, list) else generator
            return torch.rand(rows, 3, generator=g, device=g.device if g is not None else "cpu").to(device)
        return torch.tensor([config.bootstrap_color], device=device).expand(rows, 3)

    def _flat_backgrounds(
        self, colours: torch.Tensor, height: int, width: int, dtype: torch.dtype
    ) -> torch.Tensor:
        """Latents `(rows, 4, h, w)` of flat images of the given colours `(rows, 3)` in [0, 1]."""
        images = colours[:, :, None, None].expand(colours.shape[0], 3, height, width)  # (R, 3, H, W)
        return encode_images(self, images).to(dtype)  # (R, 4, h, w)
