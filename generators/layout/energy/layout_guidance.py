"""The layout-guidance energy (Chen et al., "Training-Free Layout Control with Cross-Attention Guidance").

For phrase ``i`` with region mask ``M_i`` and each of its tokens ``k``, the share of the token's
attention that falls inside the region is ``r = sum_p A[p, k] M_i[p] / sum_p A[p, k]``; the energy is
``mean over layers, phrases and tokens of (1 - r) ** 2`` (0 when all attention is inside the boxes).
"""

from __future__ import annotations

import torch

from . import ENERGIES
from .targets import SampleTargets


@ENERGIES.register("layout")
def layout_energy(maps: dict[str, torch.Tensor], targets: list[SampleTargets]) -> torch.Tensor:
    """Per-sample energies `(B,)` in [0, 1] (see the module docstring)."""
    if not maps:
        raise ValueError("no attention map was recorded: check the attention resolution and UNet places")
    per_layer = []
    for probs in maps.values():  # (B, HW, T)
        probs = probs.float()  # fp16 maps: keep the ratios and their gradients in fp32
        hw = probs.shape[1]
        rows = []
        for b, tgt in enumerate(targets):
            mask = tgt.masks[hw].flatten(1).to(probs.dtype)  # (N, HW)
            losses = []
            for i, toks in enumerate(tgt.token_indices):
                a = probs[b][:, toks]  # (HW, k)
                ratio = (a * mask[i][:, None]).sum(0) / a.sum(0).clamp_min(1e-8)  # (k,)
                losses.append(((1 - ratio) ** 2).mean())
            rows.append(torch.stack(losses).mean())
        per_layer.append(torch.stack(rows))  # (B,)
    return torch.stack(per_layer).mean(0)  # (B,)
