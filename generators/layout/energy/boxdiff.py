"""The BoxDiff energy (Xie et al., "BoxDiff: Text-to-Image Synthesis with Training-Free Box-Constrained
Diffusion"): inner-box, outer-box and corner constraints on each phrase's cross-attention map.

Maps are averaged over the recorded layers, restricted to the prompt's text tokens, sharpened
(``softmax(100 * A)`` over tokens, as in Attend-and-Excite) and smoothed (Gaussian, 3x3, sigma 0.5).
For phrase ``i`` with mask ``M_i`` and token map ``S``:

- inner: ``1 - mean(top-k(S * M_i))`` with ``k = P * |M_i|`` (``P = 0.2``): the box must hold strong responses;
- outer: ``mean(top-L(S * (1 - M_i)))`` with ``L = 1``: nothing strong outside the box;
- corner: ``mean |proj(S) - 1[box]|`` over the cells next to the box edges, for the max-projections of
  ``S`` onto the x and y axes: the response must reach the box's edges and stop there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import ENERGIES
from .targets import SampleTargets

TOP_P = 0.2
TOP_L = 1
EDGE_BAND = 1  # cells on each side of a box edge checked by the corner constraint


def _gaussian_smooth(x: torch.Tensor) -> torch.Tensor:
    """3x3 Gaussian (sigma 0.5) smoothing of maps (K, h, w), reflect-padded."""
    g = torch.exp(-torch.tensor([1.0, 0.0, 1.0]) / (2 * 0.5**2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :]).to(x)[None, None]  # (1, 1, 3, 3)
    return F.conv2d(F.pad(x[:, None], (1, 1, 1, 1), mode="reflect"), kernel)[:, 0]


def _edge_band(indicator: torch.Tensor) -> torch.Tensor:
    """Cells within :data:`EDGE_BAND` of a change of a 1-D box indicator (L,) -> bool (L,)."""
    edges = torch.zeros_like(indicator, dtype=torch.bool)
    change = (indicator[1:] != indicator[:-1]).nonzero().flatten()
    for c in change.tolist():
        lo, hi = max(c + 1 - EDGE_BAND, 0), min(c + 1 + EDGE_BAND, len(indicator))
        edges[lo:hi] = True
    if not edges.any():  # a box spanning the whole axis: check its two ends
        edges[0] = edges[-1] = True
    return edges


def _box_energy(s: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Inner + outer + corner constraints of one token map ``s`` (h, w) against ``mask`` (h, w)."""
    inside = s * mask
    k = max(int(TOP_P * float(mask.sum())), 1)
    inner = 1 - inside.flatten().topk(k).values.mean()
    outside = (s * (1 - mask)).flatten()
    outer = (
        outside.topk(min(TOP_L, outside.numel())).values.mean() if (1 - mask).sum() > 0 else s.new_zeros(())
    )
    corner = s.new_zeros(())
    for dim in (0, 1):  # dim 0: projection on x (max over rows); dim 1: on y
        proj = s.max(dim=dim).values  # (w,) or (h,)
        target = mask.max(dim=dim).values  # (w,) or (h,)
        band = _edge_band(target)
        corner = corner + (proj[band] - target[band]).abs().mean()
    return inner + outer + corner / 2


@ENERGIES.register("boxdiff")
def boxdiff_energy(maps: dict[str, torch.Tensor], targets: list[SampleTargets]) -> torch.Tensor:
    """Per-sample energies `(B,)` (see the module docstring); 0 is a perfect fit."""
    if not maps:
        raise ValueError("no attention map was recorded: check the attention resolution and UNet places")
    by_size: dict[int, list[torch.Tensor]] = {}
    for probs in maps.values():
        by_size.setdefault(probs.shape[1], []).append(probs.float())  # fp32 energy under fp16 models
    rows = []
    for b, tgt in enumerate(targets):
        energies = []
        for hw, group in by_size.items():
            a = torch.stack([p[b] for p in group]).mean(0)  # (HW, T)
            masks = tgt.masks[hw].to(a.dtype)  # (N, h, w)
            h, w = masks.shape[-2:]
            text = F.softmax(100 * a[:, 1 : tgt.text_end], dim=-1)  # (HW, L) over the prompt's tokens
            for i, toks in enumerate(tgt.token_indices):
                cols = [t - 1 for t in toks if 1 <= t < tgt.text_end]
                s = _gaussian_smooth(text[:, cols].T.reshape(len(cols), h, w))  # (k, h, w)
                energies.append(torch.stack([_box_energy(s[j], masks[i]) for j in range(len(cols))]).mean())
        rows.append(torch.stack(energies).mean())
    return torch.stack(rows)  # (B,)
