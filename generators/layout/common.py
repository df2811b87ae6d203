"""Pieces shared by the layout pipelines: one layout per prompt, per-phrase attention maps, step sizes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .layout import BoxLayout, LayoutError, SemanticLayout

AnyLayout = BoxLayout | SemanticLayout


def as_prompt_list(prompt: str | Sequence[str]) -> list[str]:
    if isinstance(prompt, str):
        return [prompt]
    prompts = list(prompt)
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise ValueError("prompt must be a string or a non-empty list of strings")
    return prompts


def layouts_for(prompts: list[str], layout: AnyLayout | Sequence[AnyLayout]) -> list[AnyLayout]:
    """One layout per prompt (a single layout serves every prompt), each checked against its prompt."""
    if isinstance(layout, (BoxLayout, SemanticLayout)):
        layouts = [layout] * len(prompts)
    else:
        layouts = list(layout)
    if len(layouts) != len(prompts):
        raise LayoutError(
            f"{len(prompts)} prompts but {len(layouts)} layouts: give one layout, or one per prompt"
        )
    for lay, prompt in zip(layouts, prompts):
        if not isinstance(lay, (BoxLayout, SemanticLayout)):
            raise LayoutError(f"a layout must be a BoxLayout or SemanticLayout, got {type(lay).__name__}")
        lay.check_prompt(prompt)
    return layouts


def guidance_step_size(scheduler: Any, t: torch.Tensor | int) -> float:
    """The noise variance at timestep ``t`` in the scale of the scheduler's latents: ``1 - alpha_bar_t``
    for DDIM / DDPM / PNDM latents, ``sigma_t ** 2`` for sigma-scaled latents (Euler, LMS)."""
    alphas = getattr(scheduler, "alphas_cumprod", None)
    if alphas is None:
        raise ValueError(
            f"{type(scheduler).__name__} has no alphas_cumprod; box guidance needs a DDPM-family scheduler"
        )
    a = float(alphas[int(t)])
    if float(getattr(scheduler, "init_noise_sigma", 1.0)) > 1.0:
        return (1 - a) / a
    return 1 - a


def phrase_maps(
    mean_maps: dict[int, torch.Tensor], token_indices: list[list[int]], b: int, shape: tuple[int, int]
) -> torch.Tensor:
    """Per-phrase attention maps of batch row ``b``: tokens averaged, every map size resized to
    ``shape`` and averaged, each map scaled to [0, 1].

    Args:
        mean_maps: spatial tokens ``h*w`` -> `(B, h*w, T)` (see :meth:`AttentionStore.mean_maps`).
        token_indices: per phrase, its token positions.
        shape: ``(H, W)`` of the output; map sizes are inferred from ``shape``'s aspect ratio.

    Returns:
        `torch.Tensor` of shape `(N, H, W)` in [0, 1].
    """
    H, W = shape
    out = torch.zeros(len(token_indices), H, W)
    if not mean_maps:
        return out
    for hw, maps in mean_maps.items():
        f = (H * W / hw) ** 0.5
        h, w = max(round(H / f), 1), max(round(W / f), 1)
        for i, toks in enumerate(token_indices):
            m = maps[b][:, toks].mean(-1).reshape(1, 1, h, w).float()  # (1, 1, h, w)
            out[i] += F.interpolate(m, size=(H, W), mode="bilinear", align_corners=False)[0, 0].cpu()
    out /= len(mean_maps)
    top = out.flatten(1).max(1).values.clamp_min(1e-12)  # (N,)
    return out / top[:, None, None]
