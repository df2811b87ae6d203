"""How the multi-concept generators read a request: the images of one composition (same prompt, same
concepts) are generated in one pipeline call, as the benchmark's methods always have been."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from workbench.generation import GenerationRequest

__all__ = ["Composition", "compositions", "sampling_kwargs"]


@dataclass
class Composition:
    """Consecutive images of a request that share prompt, concepts, boxes and reference seed (``latents``:
    their rows of the request's initial latents `(n, C, h, w)`, or ``None``)."""

    prompt: str
    concepts: Any
    boxes: Any
    reference_seed: int
    generators: list[torch.Generator]
    latents: torch.Tensor | None = None


def compositions(request: GenerationRequest) -> Iterator[Composition]:
    """The request split into runs of images with the same composition (conditions ``concepts``, and
    optionally ``boxes`` and ``reference_seed``, one per image)."""
    n = len(request.prompts)
    concepts = request.conditions["concepts"]
    boxes = request.conditions.get("boxes", [None] * n)
    seeds = request.conditions.get("reference_seed", [0] * n)
    start = 0
    for i in range(1, n + 1):
        same = i < n and (
            request.prompts[i] == request.prompts[start]
            and concepts[i] is concepts[start]
            and boxes[i] == boxes[start]
            and seeds[i] == seeds[start]
        )
        if not same:
            yield Composition(
                request.prompts[start],
                concepts[start],
                boxes[start],
                int(seeds[start]),
                request.generators[start:i],
                None if request.latents is None else request.latents[start:i],
            )
            start = i


def sampling_kwargs(request: GenerationRequest) -> dict[str, Any]:
    """The settings every method passes to its pipeline (one prompt, several images per call)."""
    return {
        "height": request.height,
        "width": request.width,
        "num_inference_steps": request.num_inference_steps,
        "guidance_scale": request.guidance_scale,
        "negative_prompt": request.negative_prompt,
        "output_type": "pt",
    }
