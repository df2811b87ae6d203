"""What the retrieval generators share: their config and the pipeline call.

Each image needs its retrieved neighbours (``request.conditions["neighbours"]``); ``retrieval_blend``
also its target box (``"target_boxes"``). ``retrieve: false`` runs the same pipeline with retrieval off
(the baseline on the same weights)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict

from generators.retrieval.blend import BlendConfig
from generators.retrieval.guidance import GuidanceConfig
from generators.retrieval.pipeline_retrieval import RetrievalAugmentedPipeline
from workbench.generation import GenerationRequest, Generator

__all__ = ["RetrievalGenerator", "RetrievalOptions"]


class RetrievalOptions(BaseModel):
    """Args:
    guidance: the guidance scheme (single or Re-Imagen's interleaved) with its scales.
    layers: reference-attention layers (a preset or patterns).
    reference_weight: logit bias inside the neighbours' boxes.
    blend: the blending settings (``retrieval_blend``).
    retrieve: ``false`` generates with retrieval off (the baseline of the same pipeline).
    reference_seed: seed of the noise added to the neighbours' latents (reference and blend modes); the
        entity-draw bench sets the run seed, so every noise of a run follows its seed.
    """

    model_config = ConfigDict(extra="forbid")

    guidance: GuidanceConfig = GuidanceConfig()
    layers: str | list[str] = "decoder"
    reference_weight: float = 0.0
    blend: BlendConfig = BlendConfig()
    retrieve: bool = True
    reference_seed: int = 0


class RetrievalGenerator(Generator):
    """A :class:`RetrievalAugmentedPipeline` call in one mode (subclasses set :attr:`mode`)."""

    mode: ClassVar[str] = "auto"
    config_class = RetrievalOptions
    requires = ("neighbours",)
    takes_latents = True

    def __init__(self, pipe: Any, config: RetrievalOptions | None = None) -> None:
        super().__init__(
            pipe
            if isinstance(pipe, RetrievalAugmentedPipeline)
            else RetrievalAugmentedPipeline.from_pipe(pipe),
            config,
        )
        self.pipe.set_progress_bar_config(disable=True)

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        o = self.config
        retrieving = o.retrieve
        boxes = request.conditions.get("target_boxes")
        return self.pipe(
            request.prompts,
            neighbours=list(request.conditions["neighbours"]) if retrieving else None,
            mode=self.mode if retrieving else "auto",
            guidance=o.guidance,
            layers=o.layers,
            reference_weight=o.reference_weight,
            target_boxes=list(boxes) if self.mode == "blend" and boxes is not None else None,
            blend=o.blend,
            reference_seed=o.reference_seed,
            num_inference_steps=request.num_inference_steps,
            height=request.height,
            width=request.width,
            generator=request.generators,
            latents=request.latents,
            output_type="pt",
        ).images  # (B, 3, H, W) in [0, 1]
