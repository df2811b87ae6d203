"""Baseline: the plain text-to-image pipeline, the concepts described in words only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict

from generators.multiconcept.concept import Concept
from generators.multiconcept.request import compositions, sampling_kwargs
from generators.multiconcept.sharing import share_components
from workbench.generation import GenerationRequest, Generator, register_generator
from workbench.sampling import PIPELINE_SAMPLING

__all__ = ["TextOnlyConfig", "TextOnlyGenerator", "text_only_pipeline", "text_only_prompt"]


def text_only_prompt(
    prompt: str, concepts: Sequence[Concept] = (), append_concept_prompts: bool = False
) -> str:
    """The baseline's prompt: ``prompt`` itself (it names the concepts), or with every concept prompt
    appended (``"a dog wearing a hat, with a dog, a red hat"``) when ``append_concept_prompts``."""
    if not append_concept_prompts or not concepts:
        return prompt
    return f"{prompt}, with " + ", ".join(c.prompt for c in concepts)


def text_only_pipeline(pipe: Any) -> Any:
    """A stock ``StableDiffusionPipeline`` sharing ``pipe``'s components (no copy)."""
    from diffusers import StableDiffusionPipeline

    if type(pipe) is StableDiffusionPipeline:
        return pipe
    return share_components(StableDiffusionPipeline, pipe)


class TextOnlyConfig(BaseModel):
    """Args:
    append_concept_prompts: append every concept prompt to the target prompt."""

    model_config = ConfigDict(extra="forbid")

    append_concept_prompts: bool = False


@register_generator("text")
class TextOnlyGenerator(Generator):
    """The plain pipeline, the concepts in words only (the baseline of reference-based methods)."""

    config_class = TextOnlyConfig
    sampling = PIPELINE_SAMPLING  # the paper's DDIM 50 steps, guidance 7.5
    requires = ("concepts",)
    takes_latents = True

    def __init__(self, pipe: Any, config: TextOnlyConfig | None = None) -> None:
        super().__init__(pipe, config)
        self.txt = text_only_pipeline(pipe)
        self.txt.set_progress_bar_config(disable=True)

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        images = [
            self.txt(
                text_only_prompt(c.prompt, c.concepts, self.config.append_concept_prompts),
                num_images_per_prompt=len(c.generators),
                generator=c.generators,
                latents=c.latents,
                **sampling_kwargs(request),
            ).images
            for c in compositions(request)
        ]
        return torch.cat(images)  # (B, 3, H, W) in [0, 1]
