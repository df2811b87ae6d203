"""Sampling settings (denoising steps, guidance scale) and their defaults, written once.

Two sets of defaults exist, each in one place:

- :data:`PIPELINE_SAMPLING`: diffusers' Stable Diffusion defaults (``StableDiffusionPipeline.__call__``:
  50 steps, guidance 7.5), which the project's pipelines take as their own (and FreeCustom's paper uses);
- :data:`WORKBENCH_SAMPLING`: what a registered generator runs with unless told otherwise (25 DDIM steps,
  guidance 5), the sampling of the layout, retrieval and watermark experiments and of the demos.

Experiments, CLIs and demos never restate them: a config section is a :class:`SamplingSection` (or a
subclass) whose unset fields are filled from its owner's defaults when it is validated, so the resolved
config written into a run folder holds the numbers that ran.

Example:
    >>> SamplingSection().num_inference_steps == WORKBENCH_SAMPLING.num_inference_steps
    True
    >>> class PaperSampling(SamplingSection):
    ...     defaults = PIPELINE_SAMPLING
    >>> PaperSampling(num_inference_steps=2).sampling()
    Sampling(num_inference_steps=2, guidance_scale=7.5)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from pydantic import Field, model_validator

from workbench.config import ConfigSection

__all__ = ["PIPELINE_SAMPLING", "WORKBENCH_SAMPLING", "Sampling", "SamplingSection"]


@dataclass(frozen=True)
class Sampling:
    """Resolved sampling: denoising steps and classifier-free guidance scale (<= 1 disables guidance)."""

    num_inference_steps: int
    guidance_scale: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PIPELINE_SAMPLING = Sampling(num_inference_steps=50, guidance_scale=7.5)
"""diffusers' Stable Diffusion defaults, the defaults of the project's pipelines (``__call__``)."""

WORKBENCH_SAMPLING = Sampling(num_inference_steps=25, guidance_scale=5.0)
"""The generators' and experiments' defaults (the sampling of the toy world's measured claims)."""


class SamplingSection(ConfigSection):
    """Sampling of an experiment's generation calls; a field left unset is taken from :attr:`defaults`.

    Subclasses add their own fields and may name other defaults (``defaults = PIPELINE_SAMPLING``) or
    compute them (override :meth:`default_sampling`, e.g. from the chosen generator).

    Args:
        num_inference_steps: denoising steps.
        guidance_scale: classifier-free guidance scale (<= 1 disables it).
    """

    defaults: ClassVar[Sampling] = WORKBENCH_SAMPLING

    num_inference_steps: int | None = Field(None, ge=1, le=1000)
    guidance_scale: float | None = Field(None, ge=0.0)

    def default_sampling(self) -> Sampling:
        """The defaults that fill the unset fields (:attr:`defaults` unless a subclass says otherwise)."""
        return self.defaults

    @model_validator(mode="after")
    def _fill_defaults(self) -> SamplingSection:
        if self.num_inference_steps is None or self.guidance_scale is None:
            defaults = self.default_sampling()
            if self.num_inference_steps is None:
                self.num_inference_steps = defaults.num_inference_steps
            if self.guidance_scale is None:
                self.guidance_scale = defaults.guidance_scale
        return self

    def sampling(self) -> Sampling:
        """The resolved settings."""
        return Sampling(int(self.num_inference_steps), float(self.guidance_scale))
