"""``box_guidance`` and ``boxdiff``: training-free box guidance as registered generators.

Both wrap :class:`StableDiffusionBoxGuidancePipeline` over any SD-shaped pipeline's components and need a
layout per prompt (``request.conditions["layouts"]``). ``box_guidance`` defaults to the ``fast`` setting
(the layout energy, one iteration in the first 10 steps); ``boxdiff`` to BoxDiff's constraints and
schedule. The attention resolution defaults to what the UNet has (see :class:`BoxGuidanceConfig`).
"""

from __future__ import annotations

from typing import Any

import torch

from workbench.generation import GenerationRequest, Generator, register_generator

from .config import BoxDiffConfig, BoxGuidanceConfig
from .pipeline import StableDiffusionBoxGuidancePipeline

__all__ = ["BoxDiffGenerator", "BoxGuidanceGenerator", "derived_pipeline"]


def derived_pipeline(cls: type, pipe: Any) -> Any:
    """``cls`` built on ``pipe``'s components (no safety checker), progress bars off."""
    components = dict(pipe.components)
    components.setdefault("safety_checker", None)
    components.setdefault("feature_extractor", None)
    components["requires_safety_checker"] = False
    derived = cls(**components)
    derived.set_progress_bar_config(disable=True)
    return derived


@register_generator("box_guidance")
class BoxGuidanceGenerator(Generator):
    """Training-free cross-attention guidance toward each phrase's box (layout guidance's energy)."""

    config_class = BoxGuidanceConfig
    requires = ("layouts",)
    takes_latents = True

    def __init__(self, pipe: Any, config: BoxGuidanceConfig | None = None) -> None:
        super().__init__(pipe, config)
        self.guided = derived_pipeline(StableDiffusionBoxGuidancePipeline, pipe)

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        out = self.guided(
            request.prompts,
            layout=list(request.conditions["layouts"]),
            guidance=self.config,
            generator=request.generators,
            latents=request.latents,
            output_type="pt",
            **request.sampling(),
        )
        return out.images  # (B, 3, H, W) in [0, 1]


@register_generator("boxdiff")
class BoxDiffGenerator(BoxGuidanceGenerator):
    """BoxDiff: inner-box, outer-box and corner constraints on the cross-attention, as its paper."""

    config_class = BoxDiffConfig
