"""Baseline: the plain text-to-image pipeline, the concepts described in words only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from generators.multiconcept.concept import Concept

__all__ = ["text_only_pipeline", "text_only_prompt"]


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

    from generators.multiconcept.sharing import share_components

    if type(pipe) is StableDiffusionPipeline:
        return pipe
    return share_components(StableDiffusionPipeline, pipe)
