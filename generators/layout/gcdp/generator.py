"""``gcdp`` and ``gcdp_layout``: GCDP's joint model as registered generators, built over a
:class:`~generators.layout.gcdp.pipeline.GCDPPipeline` (:func:`load_gcdp_pipeline`).

- ``gcdp``: text -> (image, layout); takes prompts only (the generated layouts are kept in
  :attr:`GCDPGenerator.last_layouts`). Built over any other pipeline, it loads the shipped toy GCDP
  (``toyworld/models/gcdp``) and fails with how to train it where there is none.
- ``gcdp_layout``: layout -> image; each prompt's layout (boxes with phrases, or a semantic label map) is
  drawn as the class map the model was trained on (each phrase's shape filling its box) and held fixed; for a
  model of colour layouts (50 classes) each phrase's (shape, colour) class, so each phrase must name a colour.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from toyworld.presets import MODELS_DIR
from toyworld.semantic import class_of_shape, colors_of_num_classes, layout_from_objects
from toyworld.vocab import COLOR_NAMES, SHAPES
from toyworld.world import parse_phrase
from workbench.generation import GenerationRequest, Generator, register_generator

from .pipeline import LAYOUT_FRACTION, LAYOUT_GUIDANCE_SCALE, LAYOUT_TEMPERATURE, REVEAL_ORDER, GCDPPipeline
from .scheduler import RevealOrder

__all__ = [
    "GCDPConfig",
    "GCDPGenerator",
    "GCDPLayoutGenerator",
    "layout_class_map",
    "load_gcdp_pipeline",
    "pipeline_layout_colors",
]

GCDP_DIR = MODELS_DIR / "gcdp"


class GCDPConfig(BaseModel):
    """Args:
    temperature: softmax temperature of the layout's revealed classes (0: the most likely class).
    layout_guidance_scale: guidance on the layout (:class:`GCDPPipeline`; 1: none).
    reveal_order / layout_fraction: the joint mode's layout sampling (:class:`GCDPPipeline`)."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(LAYOUT_TEMPERATURE, ge=0.0)
    layout_guidance_scale: float = Field(LAYOUT_GUIDANCE_SCALE, ge=0.0)
    reveal_order: RevealOrder = REVEAL_ORDER
    layout_fraction: float = Field(LAYOUT_FRACTION, gt=0.0, le=1.0)


def load_gcdp_pipeline(path: str | Path | None, runtime: Any = None) -> GCDPPipeline:
    """A saved GCDP pipeline (default: the toy world's, ``toyworld/models/gcdp``).

    Raises:
        FileNotFoundError: no pipeline there, with how to train one.
    """
    folder = Path(path) if path is not None else GCDP_DIR
    if not (folder / "model_index.json").is_file():
        raise FileNotFoundError(
            f"no GCDP pipeline in {folder}: train it with `workbench toy train gcdp --minutes 60` (needs the "
            "toy SD), or pass a folder saved by GCDPPipeline.save_pretrained"
        )
    pipe = GCDPPipeline.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
    if runtime is not None:
        pipe.to(runtime.device, runtime.dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def pipeline_layout_colors(pipe: GCDPPipeline) -> bool:
    """Whether ``pipe``'s denoiser reads colour layouts (50 classes) rather than shape layouts (8)."""
    return colors_of_num_classes(pipe.denoiser.config.num_classes)


def layout_class_map(layout: Any, size: int, colors: bool = False) -> torch.Tensor:
    """The class map `(size, size)` of a layout: each phrase's shape (an emblem for a named entity) drawn
    filling its box, or, for a semantic label map, each region filled with its phrase's class; with ``colors``
    each phrase's (shape, colour) class (:func:`toyworld.semantic.layout_classes`).

    Raises:
        ValueError: a phrase that names no shape or entity of the toy world, or (``colors``) no colour.
    """
    objs = []
    for phrase in layout.phrases:
        parsed = parse_phrase(phrase)
        if parsed.shape is None:
            raise ValueError(f"layout phrase {phrase!r} names no shape ({', '.join(SHAPES)}) or emblem")
        if colors and parsed.color is None:
            raise ValueError(
                f"layout phrase {phrase!r} names no colour; this GCDP model's layouts need one of "
                f"{', '.join(COLOR_NAMES)} per shape"
            )
        objs.append((parsed.entity, parsed.shape, parsed.color))
    if hasattr(layout, "label_map"):
        masks = layout.region_masks(size, size)  # (N, size, size)
        out = torch.zeros(size, size, dtype=torch.long)
        for (entity, shape, color), mask in zip(objs, masks):
            out[mask > 0.5] = class_of_shape(shape, color, colors, emblem=entity is not None)
        return out
    boxes = layout.as_boxes().boxes
    return layout_from_objects([[(e, s, b, c) for (e, s, c), b in zip(objs, boxes)]], size, colors)[0]


@register_generator("gcdp")
class GCDPGenerator(Generator):
    """GCDP: the image and its semantic layout generated together from the caption."""

    config_class = GCDPConfig
    last_layouts: torch.Tensor | None = None

    def __init__(self, pipe: Any, config: GCDPConfig | None = None) -> None:
        if not isinstance(pipe, GCDPPipeline):
            # built over a text-to-image pipeline (the generation job, the generate demo): the shipped toy GCDP,
            # whose VAE and text encoder are the toy SD's, on that pipeline's device
            pipe = load_gcdp_pipeline(None).to(getattr(pipe, "device", "cpu"))
        super().__init__(pipe, config)

    def call_pipeline(self, request: GenerationRequest, layouts: torch.Tensor | None) -> torch.Tensor:
        self.pipe.set_progress_bar_config(disable=True)
        out = self.pipe(
            request.prompts,
            layout=layouts,
            generator=request.generators,
            num_inference_steps=request.num_inference_steps,
            guidance_scale=request.guidance_scale,
            temperature=self.config.temperature,
            layout_guidance_scale=self.config.layout_guidance_scale,
            reveal_order=self.config.reveal_order,
            layout_fraction=self.config.layout_fraction,
            height=request.height,
            width=request.width,
            output_type="pt",
        )
        self.last_layouts = out.layouts  # (B, h, w)
        return out.images  # (B, 3, H, W) in [0, 1]

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        return self.call_pipeline(request, None)


@register_generator("gcdp_layout")
class GCDPLayoutGenerator(GCDPGenerator):
    """GCDP given the layout: the image generated around a fixed semantic layout (layout -> image)."""

    requires = ("layouts",)

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        size = request.height or self.pipe.denoiser.config.trunk["sample_size"] * self.pipe.vae_scale_factor
        colors = pipeline_layout_colors(self.pipe)
        maps = torch.stack([layout_class_map(lay, size, colors) for lay in request.conditions["layouts"]])
        return self.call_pipeline(request, maps)  # (B, 3, H, W) in [0, 1]
