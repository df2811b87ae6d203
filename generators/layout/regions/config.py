"""Settings of region-prompt fusion (MultiDiffusion)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from toyworld.vocab import BACKGROUND


class RegionsConfig(BaseModel):
    """How region prompts are fused.

    Each denoising step predicts the noise of the whole latent once per region prompt (and once for the
    background prompt); the predictions are averaged per pixel with the regions' masks as weights
    (MultiDiffusion's closed-form fusion; for DDIM, averaging the noise equals averaging the next latents).

    Args:
        bootstrap_fraction: share of the first steps during which each region is denoised on a noised
            flat-colour background outside its mask (MultiDiffusion's bootstrapping: tighter regions).
        bootstrap_color: the flat backgrounds' colour: ``"random"`` per region (MultiDiffusion) or an RGB
            triple in [0, 1] (the background the images should have, e.g. the toy world's dark grey).
        background_bootstrap: during the bootstrap steps, also hold the image's latents outside every region
            at the noised flat background, so that no object starts outside its box.
        region_weight: weight of a region's prediction inside its mask (the background's is 1).
    """

    model_config = ConfigDict(extra="forbid")

    bootstrap_fraction: float = Field(default=0.2, ge=0.0, le=1.0)
    region_weight: float = Field(default=1.0, gt=0.0)
    bootstrap_color: Literal["random"] | tuple[float, float, float] = "random"
    background_bootstrap: bool = False

    @classmethod
    def for_model(cls, name: str) -> RegionsConfig:
        """The settings measured best for a model: on the toy SD, bootstrap on the toy world's background with
        the image held flat outside its boxes; elsewhere MultiDiffusion's random colours."""
        if name.split(":")[0] != "toy":
            return cls()

        return cls(bootstrap_color=BACKGROUND, background_bootstrap=True)

    @field_validator("bootstrap_color")
    @classmethod
    def _colour_range(cls, value: Any) -> Any:
        if isinstance(value, tuple) and not all(0.0 <= c <= 1.0 for c in value):
            raise ValueError(f"bootstrap_color {value} is outside [0, 1]; give RGB in [0, 1], or 'random'")
        return value
