"""``gligen``: the grounded model (gated self-attention over box tokens) as a registered generator.

Built over a ``StableDiffusionGLIGENPipeline`` (:func:`load_gligen_pipeline`), not a plain SD pipeline;
needs a layout per prompt."""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from workbench.generation import GenerationRequest, Generator, register_generator

from .pipeline import generate_grounded

__all__ = ["GligenConfig", "GligenGenerator"]


class GligenConfig(BaseModel):
    """Args:
    scheduled_sampling_beta: share of the steps that use the grounding tokens (unset: 1 for a model with
        box-masked grounding attention, else GLIGEN's 0.3)."""

    model_config = ConfigDict(extra="forbid")

    scheduled_sampling_beta: float | None = Field(None, ge=0.0, le=1.0)


@register_generator("gligen")
class GligenGenerator(Generator):
    """GLIGEN: phrases and boxes as grounding tokens through gated self-attention."""

    config_class = GligenConfig
    requires = ("layouts",)

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        return generate_grounded(
            self.pipe,
            request.prompts,
            list(request.conditions["layouts"]),
            request.generators,
            num_inference_steps=request.num_inference_steps,
            guidance_scale=request.guidance_scale,
            scheduled_sampling_beta=self.config.scheduled_sampling_beta,
            height=request.height,
            width=request.width,
        )
