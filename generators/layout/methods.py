"""The generation methods the layout evaluation compares, behind one call signature.

A method is built once from the loaded models and then called as
``method(prompts, layouts, region_prompts, generators) -> images`` with images a `torch.Tensor` of
shape `(B, 3, H, W)` in [0, 1]. :data:`METHODS` names them:

- ``stock``: the text-to-image pipeline without the layout (the baseline);
- ``box_guidance``: training-free cross-attention guidance (layout energy, ``fast`` preset by default);
- ``boxdiff``: the same pipeline with BoxDiff's constraints and schedule;
- ``regions``: MultiDiffusion-style region prompts;
- ``gligen``: the trained grounded model (needs its weights).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from workbench.registry import Registry

from .box_guidance import BoxGuidanceConfig, StableDiffusionBoxGuidancePipeline
from .regions import RegionsConfig, StableDiffusionRegionsPipeline

METHODS: Registry = Registry("layout method")

Method = Callable[[list[str], list[Any], list[list[str]], list[torch.Generator]], torch.Tensor]


@dataclass
class MethodSettings:
    """What the method builders need: the base SD pipeline, sampling settings and per-method configs."""

    sd_pipe: Any
    steps: int = 25
    guidance_scale: float = 5.0
    box_guidance: BoxGuidanceConfig = field(default_factory=lambda: BoxGuidanceConfig.preset("fast"))
    boxdiff: BoxGuidanceConfig = field(default_factory=lambda: BoxGuidanceConfig.preset("boxdiff"))
    regions: RegionsConfig = field(default_factory=RegionsConfig)
    gligen_pipe: Any = None
    gligen_beta: float = 0.3


def _components(pipe: Any) -> dict[str, Any]:
    comps = dict(pipe.components)
    comps.setdefault("safety_checker", None)
    comps.setdefault("feature_extractor", None)
    comps["requires_safety_checker"] = False
    return comps


def _pipeline_method(
    pipe: Any, s: MethodSettings, layout_kwargs: Callable[[Sequence[Any], Any], dict[str, Any]]
) -> Method:
    """A method that calls ``pipe`` with the shared sampling settings and ``layout_kwargs(layouts, region_prompts)``."""
    pipe.set_progress_bar_config(disable=True)

    def run(
        prompts: list[str], layouts: Sequence[Any], region_prompts: Any, gens: list[torch.Generator]
    ) -> torch.Tensor:
        out = pipe(
            prompts,
            **layout_kwargs(layouts, region_prompts),
            num_inference_steps=s.steps,
            guidance_scale=s.guidance_scale,
            generator=gens,
            output_type="pt",
        )
        return out.images.float().cpu()  # (B, 3, H, W) in [0, 1]

    return run


@METHODS.register("stock")
def build_stock(s: MethodSettings) -> Method:
    return _pipeline_method(s.sd_pipe, s, lambda layouts, region_prompts: {})


def _box_method(s: MethodSettings, config: BoxGuidanceConfig) -> Method:
    pipe = StableDiffusionBoxGuidancePipeline(**_components(s.sd_pipe))
    return _pipeline_method(
        pipe, s, lambda layouts, region_prompts: dict(layout=list(layouts), guidance=config)
    )


@METHODS.register("box_guidance")
def build_box_guidance(s: MethodSettings) -> Method:
    return _box_method(s, s.box_guidance)


@METHODS.register("boxdiff")
def build_boxdiff(s: MethodSettings) -> Method:
    return _box_method(s, s.boxdiff)


@METHODS.register("regions")
def build_regions(s: MethodSettings) -> Method:
    pipe = StableDiffusionRegionsPipeline(**_components(s.sd_pipe))
    return _pipeline_method(
        pipe,
        s,
        lambda layouts, region_prompts: dict(
            layout=list(layouts), region_prompts=region_prompts, config=s.regions
        ),
    )


@METHODS.register("gligen")
def build_gligen(s: MethodSettings) -> Method:
    from .gligen import generate_grounded

    if s.gligen_pipe is None:
        raise FileNotFoundError("the gligen method needs a grounded pipeline (see generators.layout.gligen)")
    pipe = s.gligen_pipe
    pipe.scheduler = type(s.sd_pipe.scheduler).from_config(s.sd_pipe.scheduler.config)

    def run(
        prompts: list[str], layouts: Sequence[Any], region_prompts: Any, gens: list[torch.Generator]
    ) -> torch.Tensor:
        return generate_grounded(
            pipe,
            prompts,
            list(layouts),
            gens,
            num_inference_steps=s.steps,
            guidance_scale=s.guidance_scale,
            scheduled_sampling_beta=s.gligen_beta,
        )

    return run
