"""The layout family on the generator registry (:data:`workbench.generation.GENERATORS`).

Every generator whose inputs beyond prompts are a layout (and region prompts) can be compared by the
layout evaluation, the ``workbench layout generate`` command and the layout demo:

- ``stock``: the text-to-image pipeline without the layout (the baseline);
- ``box_guidance``: training-free cross-attention guidance (:mod:`.box_guidance.generator`);
- ``boxdiff``: the same pipeline with BoxDiff's constraints and schedule;
- ``regions``: MultiDiffusion-style region prompts (:mod:`.regions.generator`);
- ``gligen``: the trained grounded model, built over its own pipeline (:mod:`.gligen.generator`);

and any generator a plugin registers with ``requires`` within :data:`LAYOUT_INPUTS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from workbench.generation import GENERATORS, GenerationRequest

from .box_guidance import generator as _box_guidance  # noqa: F401  (registers box_guidance, boxdiff)
from .gligen import generator as _gligen  # noqa: F401  (registers gligen)
from .regions import generator as _regions  # noqa: F401  (registers regions)

__all__ = ["LAYOUT_INPUTS", "layout_generators", "layout_request"]

LAYOUT_INPUTS = frozenset({"layouts", "region_prompts"})


def layout_generators() -> list[str]:
    """Names of the registered generators that take a layout (or nothing) beyond prompts."""
    return [n for n in GENERATORS.names() if set(GENERATORS.get(n).requires) <= LAYOUT_INPUTS]


def layout_request(
    prompts: Sequence[str],
    layouts: Sequence[Any],
    region_prompts: Sequence[Any],
    generators: list[torch.Generator],
    num_inference_steps: int,
    guidance_scale: float,
) -> GenerationRequest:
    """The request of one batch: a layout and the region prompts per prompt."""
    return GenerationRequest(
        list(prompts),
        generators,
        num_inference_steps=num_inference_steps,
        guidance_scale=guidance_scale,
        conditions={"layouts": list(layouts), "region_prompts": list(region_prompts)},
    )
