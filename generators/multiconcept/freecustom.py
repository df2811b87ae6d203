"""``freecustom``: multi-reference self-attention (MRSA) over a shared pipeline as a registered generator.

Needs the concepts of each image (``request.conditions["concepts"]``: reference images, masks and
prompts); ``reference_seed`` (per image, default 0) seeds the references' noise."""

from __future__ import annotations

from typing import Any

import torch

from generators.multiconcept.config import FreeCustomSection
from generators.multiconcept.pipeline_multiconcept import MultiConceptPipeline
from generators.multiconcept.request import compositions, sampling_kwargs
from workbench.generation import GenerationRequest, Generator, register_generator
from workbench.sampling import PIPELINE_SAMPLING

__all__ = ["FreeCustomGenerator"]


@register_generator("freecustom")
class FreeCustomGenerator(Generator):
    """FreeCustom: the references' keys and values joined to the image's self-attention, masked to each concept."""

    config_class = FreeCustomSection
    sampling = PIPELINE_SAMPLING  # the paper's DDIM 50 steps, guidance 7.5
    requires = ("concepts",)
    takes_latents = True

    def __init__(self, pipe: Any, config: FreeCustomSection | None = None) -> None:
        super().__init__(pipe, config)
        self.mc = MultiConceptPipeline.from_pipe(pipe)
        self.mc.set_progress_bar_config(disable=True)

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        fc = self.config
        images = [
            self.mc(
                c.prompt,
                c.concepts,
                layers=fc.layers,
                mask_weights=fc.mask_weight,
                mask_resize=fc.mask_resize,
                mask_balance=fc.mask_balance,
                bind=fc.bind,
                bind_strength=fc.bind_strength,
                style_fidelity=fc.style_fidelity,
                use_concept_prompts=fc.use_concept_prompts,
                start_step=fc.start_step,
                end_step=fc.end_step,
                num_images_per_prompt=len(c.generators),
                generator=c.generators,
                latents=c.latents,
                reference_seed=c.reference_seed,
                **sampling_kwargs(request),
            ).images
            for c in compositions(request)
        ]
        return torch.cat(images)  # (B, 3, H, W) in [0, 1]
