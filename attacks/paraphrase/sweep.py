"""Strength x guidance sweeps of the visual paraphrase, captioning each image once."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from attacks.paraphrase.attack import VisualParaphrase


@torch.no_grad()
def paraphrase_sweep(
    attack: VisualParaphrase,
    images: torch.Tensor,
    strengths: Sequence[float],
    guidance_scales: Sequence[float],
    generators: Callable[[float, float], list[torch.Generator]],
    captions: list[str] | None = None,
) -> dict[tuple[float, float], torch.Tensor]:
    """Paraphrase ``images`` at every (strength, guidance) pair.

    The captions are computed once (or given) and reused for every setting, so a grid of S x G
    settings costs one captioner call and S x G batched img2img calls.

    Args:
        attack: the configured paraphrase (its model, captioner, steps, resolution).
        images (`torch.Tensor` of shape `(B, 3, H, W)`): float in [0, 1].
        strengths: img2img strengths in [0, 1].
        guidance_scales: classifier-free guidance scales.
        generators: ``(strength, guidance) -> one generator per image`` (key them by image and setting).
        captions: B captions to use instead of the captioner's.

    Returns:
        ``{(strength, guidance): (B, 3, H, W) images}``; the captions used are in ``attack.last_captions``.
    """
    captions = attack.captions_for(images, captions)
    out: dict[tuple[float, float], torch.Tensor] = {}
    for strength in strengths:
        for guidance in guidance_scales:
            setting = attack.with_strength(strength)
            setting.config = setting.config.model_copy(update={"guidance_scale": float(guidance)})
            out[(float(strength), float(guidance))] = setting(
                images, generators(strength, guidance), captions=captions
            )
    attack.last_captions = captions
    return out
