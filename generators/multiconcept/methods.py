"""The three methods of the benchmark as one call signature: FreeCustom, text only, collage img2img.

Every method gets the same target prompt, concepts, layout and per-image generators, so their images
differ only by the method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from generators.multiconcept.collage import collage_pipeline, default_boxes, make_collage
from generators.multiconcept.concept import Concept
from generators.multiconcept.config import MultiConceptConfig
from generators.multiconcept.pipeline_multiconcept import MultiConceptPipeline
from generators.multiconcept.text_only import text_only_pipeline, text_only_prompt

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
    """``{name: fn(call) -> images (N, 3, size, size) in [0, 1]}`` for ``cfg.baselines.methods``.

    Args:
        pipe: any SD-1.x / 2.x-shaped pipeline; every method shares its components.
        size: the output side in pixels.
    """
    gen, fc, base = cfg.generation, cfg.freecustom, cfg.baselines
    common = {
        "height": size,
        "width": size,
        "num_inference_steps": gen.num_inference_steps,
        "guidance_scale": gen.guidance_scale,
        "negative_prompt": gen.negative_prompt,
        "output_type": "pt",
    }
    methods: dict[str, Method] = {}
    if "freecustom" in base.methods:
        mc = MultiConceptPipeline.from_pipe(pipe)
        mc.set_progress_bar_config(disable=True)

        def freecustom(call: MethodCall) -> torch.Tensor:
            return mc(
                call.prompt,
                call.concepts,
                layers=fc.layers,
                mask_weights=fc.mask_weight,
                style_fidelity=fc.style_fidelity,
                use_concept_prompts=fc.use_concept_prompts,
                start_step=fc.start_step,
                end_step=fc.end_step,
                num_images_per_prompt=len(call.generators),
                generator=call.generators,
                reference_seed=call.reference_seed,
                **common,
            ).images

        methods["freecustom"] = freecustom
    if "text" in base.methods:
        txt = text_only_pipeline(pipe)
        txt.set_progress_bar_config(disable=True)

        def text(call: MethodCall) -> torch.Tensor:
            prompt = text_only_prompt(call.prompt, call.concepts, base.append_concept_prompts)
            return txt(
                prompt, num_images_per_prompt=len(call.generators), generator=call.generators, **common
            ).images

        methods["text"] = text
    if "collage" in base.methods:
        i2i = collage_pipeline(pipe)
        i2i.set_progress_bar_config(disable=True)

        def collage(call: MethodCall) -> torch.Tensor:
            boxes = (
                call.boxes
                if base.collage_layout == "prompt" and call.boxes
                else default_boxes(len(call.concepts))
            )
            image = make_collage(call.concepts, size, size, boxes)[None]  # (1, 3, H, W)
            kwargs = {k: v for k, v in common.items() if k not in ("height", "width")}
            return i2i(
                call.prompt,
                image=image,
                strength=base.collage_strength,
                num_images_per_prompt=len(call.generators),
                generator=call.generators,
                **kwargs,
            ).images

        methods["collage"] = collage
    return methods
