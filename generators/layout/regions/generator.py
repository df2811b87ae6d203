"""``regions``: MultiDiffusion-style region prompts as a registered generator (a layout and the region
prompts of each image in ``request.conditions``)."""

from __future__ import annotations

from typing import Any

import torch

from workbench.generation import GenerationRequest, Generator, register_generator

from ..box_guidance.generator import derived_pipeline
from .config import RegionsConfig
from .pipeline import StableDiffusionRegionsPipeline

__all__ = ["RegionsGenerator"]


@register_generator("regions")
class RegionsGenerator(Generator):
    """Each region's prompt denoises its box; the predictions are fused per pixel at every step."""

    config_class = RegionsConfig
    requires = ("layouts", "region_prompts")
    takes_latents = True

    def __init__(self, pipe: Any, config: RegionsConfig | None = None) -> None:
        super().__init__(pipe, config)
        self.fused = derived_pipeline(StableDiffusionRegionsPipeline, pipe)

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        out = self.fused(
            request.prompts,
            layout=list(request.conditions["layouts"]),
            region_prompts=request.conditions["region_prompts"],
            config=self.config,
            generator=request.generators,
            latents=request.latents,
            output_type="pt",
            **request.sampling(),
        )
        return out.images  # (B, 3, H, W) in [0, 1]
