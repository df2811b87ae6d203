"""Concept masks at the token grid of an attention layer, and the logit bias they give.

Reference attention adds, to the logits of a generated query against a reference key, ``+w`` when the
key's token lies inside the reference's concept mask and ``-inf`` outside (FreeCustom's MRSA). A layer
sees tokens, not pixels: masks are reduced to the layer's grid by one of two rules (``MASK_RESIZE``):

- ``"coverage"`` (the default): by area, a token is inside when at least half of it is, and a non-empty
  mask keeps at least its most covered token at coarse grids, so a small concept never vanishes from a
  low-resolution layer. The token set does not depend on where the mask sits inside each token.
- ``"nearest"``: FreeCustom's own rule, ``F.interpolate(mask, size=grid, mode="nearest")``: each token takes
  the pixel at its top-left corner (``floor(i * H / h)``), so a mask shifted by one pixel can gain or lose a
  whole token and a small concept can vanish from a coarse layer. Use it to reproduce the authors' numbers.

A reference's share of a query's attention grows with the number of tokens its concept keeps at the layer
(a square keeps 32 tokens of a 16 x 16 grid where a star of the same size keeps 8): with one weight for all,
a large concept's reference outweighs a small one's at every query. ``balance=True`` adds
``log(mean_r N_r / N_r)`` to reference ``r``'s weight (``N_r`` its tokens at the layer), so that every
reference gets the same prior share and the references together the same share as without it.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

__all__ = ["MASK_RESIZE", "MaskResize", "masks_to_tokens", "reference_logit_bias", "token_grid"]

MaskResize = Literal["coverage", "nearest"]
MASK_RESIZE: tuple[str, ...] = ("coverage", "nearest")


def token_grid(latent_hw: tuple[int, int], n_tokens: int) -> tuple[int, int]:
    """The ``(h, w)`` token grid of a layer with ``n_tokens`` tokens in a UNet fed ``latent_hw`` latents.

    Each UNet level halves the side, rounding up (stride-2 convolutions with padding 1).

    Raises:
        ValueError: no level of ``latent_hw`` has ``n_tokens`` tokens.
    """
    h, w = int(latent_hw[0]), int(latent_hw[1])
    while h * w > n_tokens and (h > 1 or w > 1):
        h, w = (h + 1) // 2, (w + 1) // 2
    if h * w != n_tokens:
        raise ValueError(
            f"a layer with {n_tokens} tokens is not a level of a UNet fed {tuple(latent_hw)} latents "
            "(sides halve, rounding up, at each level); the references' latent size must match what the "
            "processors were told"
        )
    return h, w


def masks_to_tokens(
    masks: torch.Tensor, grid: tuple[int, int], rule: MaskResize = "coverage"
) -> torch.Tensor:
    """Reduce pixel masks to a token grid.

    Args:
        masks (`torch.Tensor` of shape `(R, H, W)`): bool or float in [0, 1] (> 0.5 is inside).
        grid: the layer's ``(h, w)``.
        rule: ``"coverage"``: tokens at least half covered by the mask, plus the most covered token of a
            non-empty mask that would otherwise keep no token; ``"nearest"``: each token's nearest pixel
            (``F.interpolate(..., mode="nearest")``, FreeCustom's rule; a mask may keep no token).

    Returns:
        `torch.Tensor` of shape `(R, h * w)`, bool.
    """
    if masks.ndim != 3:
        raise ValueError(f"masks must have shape (R, H, W), got {tuple(masks.shape)}")
    if rule not in MASK_RESIZE:
        raise ValueError(f"mask resize rule must be one of {', '.join(MASK_RESIZE)}, got {rule!r}")
    binary = (masks.float() > 0.5).float()[:, None]  # (R, 1, H, W)
    if rule == "nearest":
        return F.interpolate(binary, size=grid, mode="nearest")[:, 0].flatten(1) > 0.5  # (R, h*w)
    frac = F.interpolate(binary, size=grid, mode="area")[:, 0].flatten(1)  # (R, h*w) covered fraction
    inside = frac >= 0.5  # (R, h*w)
    lost = (~inside.any(dim=1)) & (frac.amax(dim=1) > 0)  # (R,) non-empty masks with no token left
    if lost.any():
        rows = lost.nonzero()[:, 0]
        inside[rows, frac[rows].argmax(dim=1)] = True
    return inside


def reference_logit_bias(
    masks: torch.Tensor | None,
    weights: torch.Tensor,
    grid: tuple[int, int],
    num_references: int,
    rule: MaskResize = "coverage",
    balance: bool = False,
) -> torch.Tensor:
    """The additive logit bias of ``R`` references' keys at one layer.

    Args:
        masks (`torch.Tensor` of shape `(R, H, W)` or ``None``): concept masks; ``None`` means every token of
            every reference is inside.
        weights (`torch.Tensor` of shape `(R,)`): the logit added inside each reference's mask.
        grid: the layer's ``(h, w)`` token grid of the references.
        num_references: ``R``.
        rule: how masks are reduced to the grid (:func:`masks_to_tokens`).
        balance: add ``log(mean N / N_r)`` to each weight (``N_r``: the tokens reference ``r`` keeps at this
            grid; the mean over references that keep any), so that each reference's concept draws the same
            attention whatever its size in tokens (see the module doc).

    Returns:
        `torch.Tensor` of shape `(R * h * w,)`, float32: ``weights[r]`` inside reference ``r``'s mask,
        ``-inf`` outside, in reference-major order (the order of the concatenated reference keys).

    Example:
        >>> masks = torch.zeros(2, 8, 8, dtype=torch.bool)
        >>> masks[0, :4, :4], masks[1, :2, :2] = True, True  # 4 and 1 tokens at a 4 x 4 grid
        >>> bias = reference_logit_bias(masks, torch.tensor([3.0, 3.0]), (4, 4), 2, balance=True).view(2, -1)
        >>> [round(b.max().item(), 3) for b in bias]  # 3 + log(2.5 / 4), 3 + log(2.5 / 1)
        [2.53, 3.916]
    """
    n = grid[0] * grid[1]
    weights = weights.float().reshape(-1)
    if weights.numel() != num_references:
        raise ValueError(f"got {weights.numel()} mask weights for {num_references} references")
    if masks is None:
        inside = torch.ones(num_references, n, dtype=torch.bool, device=weights.device)
    else:
        if masks.shape[0] != num_references:
            raise ValueError(f"got {masks.shape[0]} masks for {num_references} references")
        inside = masks_to_tokens(masks, grid, rule).to(weights.device)  # (R, h*w)
    if balance and masks is not None:
        count = inside.sum(dim=1).float()  # (R,) tokens each reference keeps
        kept = count > 0
        if kept.any():
            weights = weights + torch.log(count[kept].mean() / count.clamp(min=1.0))  # (R,)
    bias = weights[:, None].expand(num_references, n).clone()  # (R, h*w)
    bias[~inside] = float("-inf")
    return bias.reshape(-1)  # (R*h*w,)
