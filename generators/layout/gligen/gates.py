"""The gates of GLIGEN's gated self-attention: how much each fuser adds to its transformer block.

Every fuser adds ``tanh(alpha_attn) * attn(...)`` and ``tanh(alpha_dense) * ff(...)``; both ``alpha`` start
at 0 (the grounded UNet starts as the text-to-image one), so their magnitude says whether the grounding
tokens are used at all."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["GATE_NAMES", "gate_magnitudes", "gate_parameters"]

GATE_NAMES: tuple[str, ...] = ("alpha_attn", "alpha_dense")


def gate_parameters(unet: Any) -> list[tuple[str, torch.nn.Parameter]]:
    """``(name, alpha)`` of every fuser gate of a gated ``unet``, in module order."""
    gates = [
        (n, p) for n, p in unet.named_parameters() if ".fuser." in n and n.rsplit(".", 1)[-1] in GATE_NAMES
    ]
    if not gates:
        raise ValueError("the UNet has no GLIGEN gates; build it with gated_unet_from()")
    return gates


@torch.no_grad()
def gate_magnitudes(unet: Any) -> dict[str, float]:
    """Mean and max over layers of ``|tanh(alpha)|`` for the attention and the feed-forward gates:
    ``gate_attn_mean``, ``gate_attn_max``, ``gate_ff_mean``, ``gate_ff_max``."""
    out: dict[str, float] = {}
    gates = gate_parameters(unet)
    for short, name in (("attn", "alpha_attn"), ("ff", "alpha_dense")):
        mags = torch.stack([p.detach().float().tanh().abs() for n, p in gates if n.endswith(name)])
        out[f"gate_{short}_mean"] = float(mags.mean())
        out[f"gate_{short}_max"] = float(mags.max())
    return out
