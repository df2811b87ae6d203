"""Settings of training-free box guidance (BoxDiff / layout guidance)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..energy import ENERGIES
from ..processors import PLACES


class BoxGuidanceConfig(BaseModel):
    """How the cross-attention energy steers the latents.

    At each of the first ``guided_steps`` denoising steps the latents take ``iterations`` gradient steps
    ``x <- x - scale * decay(i) * s(t) * dE/dx`` where ``E`` is the energy of the phrases' cross-attention
    maps at ``attention_resolution``, and ``s(t)`` is the scheduler's noise variance at ``t``
    (``1 - alpha_bar_t`` for DDIM-style latents, ``sigma_t ** 2`` for sigma-scaled ones).

    Args:
        energy: a name in :data:`generators.layout.energy.ENERGIES` (``layout``, ``boxdiff``).
        scale: gradient step scale (layout guidance's loss scale 30; BoxDiff's scale factor 20).
        iterations: gradient steps per guided denoising step.
        guided_steps: how many of the first denoising steps are guided (0 turns guidance off).
        attention_resolution: the longer side of the attention maps used; ``None`` (the default) takes the
            largest side at most 16 that this UNet's cross-attention has at the image size (16 in both
            papers at 512 px; 8 on the toy SD at 64 px), so one default serves every model.
        places: UNet parts whose cross-attention layers at that resolution are used.
        decay: ``"sqrt_linear"`` scales step ``i`` by ``sqrt(linspace(1, 0.5))`` over the guided steps
            (BoxDiff); ``"none"`` keeps it constant.
        early_exit: stop the guidance forward pass once every used map is recorded (cheaper when the
            used layers are early in the UNet; results are the same).
    """

    model_config = ConfigDict(extra="forbid")

    energy: str = "layout"
    scale: float = Field(default=30.0, ge=0.0)
    iterations: int = Field(default=1, ge=0)
    guided_steps: int = Field(default=10, ge=0)
    attention_resolution: int | None = Field(default=None, ge=1)
    places: tuple[str, ...] = PLACES
    decay: Literal["none", "sqrt_linear"] = "none"
    early_exit: bool = True

    @field_validator("energy")
    @classmethod
    def _known_energy(cls, value: str) -> str:
        if value not in ENERGIES:
            raise ValueError(
                f"unknown layout energy {value!r}; allowed values: {', '.join(ENERGIES.names())}"
            )
        return value

    @field_validator("places")
    @classmethod
    def _known_places(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [p for p in value if p not in PLACES]
        if bad or not value:
            raise ValueError(f"places must be a non-empty subset of {PLACES}, got {value}")
        return value

    @property
    def enabled(self) -> bool:
        return self.scale > 0 and self.iterations > 0 and self.guided_steps > 0

    @classmethod
    def preset(cls, name: str, **overrides) -> BoxGuidanceConfig:
        """A named setting: ``layout-guidance`` (the paper's: scale 30, 5 iterations, first 10 steps),
        ``boxdiff`` (the paper's: scale 20, the first 25 steps of 50, sqrt-linear decay; at fewer sampling
        steps pass ``guided_steps`` = half of them), or ``fast`` (the default: the
        layout energy, one iteration in the first 10 steps, early exit; within 2x the stock time)."""
        if name not in PRESETS:
            raise KeyError(f"unknown box guidance preset {name!r}; known: {', '.join(sorted(PRESETS))}")
        return cls(**{**PRESETS[name], **overrides})


PRESETS: dict[str, dict] = {
    "layout-guidance": dict(energy="layout", scale=30.0, iterations=5, guided_steps=10, decay="none"),
    "boxdiff": dict(energy="boxdiff", scale=20.0, iterations=1, guided_steps=25, decay="sqrt_linear"),
    "fast": dict(energy="layout", scale=30.0, iterations=1, guided_steps=10, decay="none"),
}


class BoxDiffConfig(BoxGuidanceConfig):
    """BoxDiff's setting (its energy, scale 20, sqrt-linear decay over the first 25 of 50 steps; at fewer
    sampling steps set ``guided_steps`` to half of them)."""

    energy: str = PRESETS["boxdiff"]["energy"]
    scale: float = Field(default=PRESETS["boxdiff"]["scale"], ge=0.0)
    iterations: int = Field(default=PRESETS["boxdiff"]["iterations"], ge=0)
    guided_steps: int = Field(default=PRESETS["boxdiff"]["guided_steps"], ge=0)
    decay: Literal["none", "sqrt_linear"] = PRESETS["boxdiff"]["decay"]
