"""The three methods of the benchmark (the registered generators ``freecustom``, ``text`` and
``collage``) as one call per composition.

Every method gets the same target prompt, concepts, layout and per-image generators, so their images
differ only by the method.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from generators.multiconcept import collage, freecustom, text_only  # noqa: F401  (register the generators)
from generators.multiconcept.concept import Concept
from generators.multiconcept.config import MultiConceptConfig
from workbench.generation import GenerationRequest, Generator, build_generator

__all__ = ["MethodCall", "build_methods"]

Box = tuple[float, float, float, float]


@dataclass
class MethodCall:
    """One composition's inputs: ``prompt``, ``concepts``, the layout ``boxes`` (normalised xyxy, one per
    concept), one generator per image and the seed of the references' noise."""

    prompt: str
    concepts: Sequence[Concept]
    boxes: Sequence[Box] | None
    generators: list[torch.Generator]
    reference_seed: int = 0


Method = Callable[[MethodCall], torch.Tensor]


def build_methods(pipe: Any, cfg: MultiConceptConfig, size: int) -> dict[str, Method]:
    """``{name: fn(call) -> images (N, 3, size, size) in [0, 1]}`` for ``cfg.baselines.methods``: the
    registered generators ``freecustom``, ``text`` and ``collage`` with the config's settings.

    Args:
        pipe: any SD-1.x / 2.x-shaped pipeline; every method shares its components.
        size: the output side in pixels.
    """
    base = cfg.baselines
    options: dict[str, Any] = {
        "freecustom": cfg.freecustom,
        "text": {"append_concept_prompts": base.append_concept_prompts},
        "collage": {"strength": base.collage_strength, "layout": base.collage_layout},
    }
    methods: dict[str, Method] = {}
    for name in base.methods:
        generator = build_generator(name, pipe, options[name])
        methods[name] = functools.partial(_call, generator, cfg, size)
    return methods


def _call(generator: Generator, cfg: MultiConceptConfig, size: int, call: MethodCall) -> torch.Tensor:
    """One composition through ``generator``: ``len(call.generators)`` images of ``call.prompt``."""
    n = len(call.generators)
    request = GenerationRequest(
        [call.prompt] * n,
        call.generators,
        num_inference_steps=cfg.generation.num_inference_steps,
        guidance_scale=cfg.generation.guidance_scale,
        negative_prompt=cfg.generation.negative_prompt,
        height=size,
        width=size,
        conditions={
            "concepts": [call.concepts] * n,
            "boxes": [call.boxes] * n,
            "reference_seed": [call.reference_seed] * n,
        },
    )
    return generator(request)
