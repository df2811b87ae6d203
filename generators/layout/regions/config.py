"""Settings of region-prompt fusion (MultiDiffusion)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RegionsConfig(BaseModel):
    """How region prompts are fused.

    Each denoising step predicts the noise of the whole latent once per region prompt (and once for the
    background prompt); the predictions are averaged per pixel with the regions' masks as weights
    (MultiDiffusion's closed-form fusion; for DDIM, averaging the noise equals averaging the next latents).

    Args:
        bootstrap_fraction: share of the first steps during which each region is denoised on a noised
            flat-colour background outside its mask (MultiDiffusion's bootstrapping: tighter regions).
        region_weight: weight of a region's prediction inside its mask (the background's is 1).
    """

    model_config = ConfigDict(extra="forbid")

    bootstrap_fraction: float = Field(default=0.2, ge=0.0, le=1.0)
    region_weight: float = Field(default=1.0, gt=0.0)
