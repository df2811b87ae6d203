"""Classifier-free guidance for retrieval-conditioned diffusion: ordinary single guidance and Re-Imagen's
interleaved guidance.

With ``c`` the text and ``r`` the retrieved neighbours, the UNet predicts noise under four conditions:
``eps(c, r)`` (both), ``eps(-, r)`` (retrieval only: empty prompt), ``eps(c, -)`` (text only: no
neighbours) and ``eps(-, -)`` (neither). The schemes combine them as:

- ``single``:                ``eps(-, -) + w * (eps(c, r) - eps(-, -))``
- text-enhanced step:        ``eps(-, r) + w_text * (eps(c, r) - eps(-, r))``
- retrieval-enhanced step:   ``eps(c, -) + w_ret * (eps(c, r) - eps(c, -))``
- ``interleaved``: a text-enhanced step or a retrieval-enhanced step at each denoising step, a fraction
  ``ratio`` of the steps text-enhanced, spread evenly (:func:`interleaved_schedule`).

Each step costs two UNet rows per image in every scheme.

Example:
    >>> interleaved_schedule(6, 0.5)
    ['retrieval', 'text', 'retrieval', 'text', 'retrieval', 'text']
    >>> GuidanceConfig(scheme="interleaved", ratio=1.0).step_kinds(3)
    ['text', 'text', 'text']
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from workbench.sampling import PIPELINE_SAMPLING

__all__ = ["BRANCHES", "GuidanceConfig", "StepKind", "combine_guidance", "interleaved_schedule"]

StepKind = Literal["single", "text", "retrieval"]

# The two UNet branches (conditions) each step kind needs: (baseline, full). Branch names:
# "uncond" = eps(-, -), "retrieval_only" = eps(-, r), "text_only" = eps(c, -), "cond" = eps(c, r).
BRANCHES: dict[str, tuple[str, str]] = {
    "single": ("uncond", "cond"),
    "text": ("retrieval_only", "cond"),
    "retrieval": ("text_only", "cond"),
}


def interleaved_schedule(num_steps: int, ratio: float) -> list[StepKind]:
    """Which guidance each of ``num_steps`` steps uses: ``floor(num_steps * ratio)`` text-enhanced steps,
    spread evenly (step ``i`` is text-enhanced when ``floor((i + 1) * ratio) > floor(i * ratio)``), the
    others retrieval-enhanced.

    Args:
        num_steps: denoising steps (>= 0).
        ratio: in [0, 1]; 1 is text-enhanced guidance only, 0 retrieval-enhanced only.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"the interleaving ratio must lie in [0, 1], got {ratio}")
    if num_steps < 0:
        raise ValueError(f"num_steps must be >= 0, got {num_steps}")
    eps = 1e-9  # 0.1 * 10 is 0.9999999999999999 in floating point
    return [
        "text" if math.floor((i + 1) * ratio + eps) > math.floor(i * ratio + eps) else "retrieval"
        for i in range(num_steps)
    ]


class GuidanceConfig(BaseModel):
    """Guidance of a retrieval-conditioned call.

    Args:
        scheme: ``"single"`` (ordinary classifier-free guidance, everything dropped in the baseline) or
            ``"interleaved"`` (Re-Imagen's text- and retrieval-enhanced guidance, alternated).
        guidance_scale: ``w`` of single guidance and ``w_text`` of text-enhanced steps.
        retrieval_guidance_scale: ``w_ret`` of retrieval-enhanced steps (``None``: ``guidance_scale``).
        ratio: the fraction of text-enhanced steps of the interleaved scheme.
    """

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["single", "interleaved"] = "single"
    guidance_scale: float = Field(default=PIPELINE_SAMPLING.guidance_scale, ge=0.0)
    retrieval_guidance_scale: float | None = Field(default=None, ge=0.0)
    ratio: float = Field(default=0.5, ge=0.0, le=1.0)

    @property
    def retrieval_scale(self) -> float:
        return self.guidance_scale if self.retrieval_guidance_scale is None else self.retrieval_guidance_scale

    def step_kinds(self, num_steps: int) -> list[StepKind]:
        """The kind of each denoising step."""
        if self.scheme == "single":
            return ["single"] * num_steps
        return interleaved_schedule(num_steps, self.ratio)

    def scale(self, kind: StepKind) -> float:
        return self.retrieval_scale if kind == "retrieval" else self.guidance_scale

    def label(self) -> str:
        """A short name for reports: ``single w=7.5`` or ``interleaved r=0.50 w=7.5/7.5``."""
        if self.scheme == "single":
            return f"single w={self.guidance_scale:g}"
        return f"interleaved r={self.ratio:.2f} w={self.guidance_scale:g}/{self.retrieval_scale:g}"


def combine_guidance(baseline: torch.Tensor, full: torch.Tensor, scale: float) -> torch.Tensor:
    """``baseline + scale * (full - baseline)``: both predictions of shape `(B, C, h, w)`."""
    return baseline + scale * (full - baseline)
