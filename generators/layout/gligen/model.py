"""A grounded UNet built from a text-to-image UNet: the same weights plus GLIGEN's new layers
(a gated self-attention ``fuser`` in every transformer block, and the ``position_net`` that turns
(phrase embedding, box) pairs into grounding tokens)."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import UNet2DConditionModel

from .box_attention import add_box_attention
from .positional import add_token_positions

GROUNDING_PREFIXES: tuple[str, ...] = ("position_net.",)
GROUNDING_INFIXES: tuple[str, ...] = (".fuser.",)
GLIGEN_DIR = Path(__file__).resolve().parents[1] / "models" / "gligen"


def _is_grounding(name: str) -> bool:
    return name.startswith(GROUNDING_PREFIXES) or any(s in name for s in GROUNDING_INFIXES)


def gated_unet_from(
    unet: UNet2DConditionModel, token_positions: bool = False, box_attention: bool = False
) -> UNet2DConditionModel:
    """A ``UNet2DConditionModel`` with ``attention_type="gated"`` holding ``unet``'s weights; the grounding
    layers are new (GLIGEN's gates start at 0, so the result computes exactly what ``unet`` computes).
    ``token_positions``: fusers whose visual tokens carry their grid cell's box embedding
    (:mod:`generators.layout.gligen.positional`). ``box_attention``: visual tokens attend only to the
    grounding tokens whose box covers them (:mod:`generators.layout.gligen.box_attention`).

    Raises:
        ValueError: ``unet`` already is gated, or weights other than the grounding layers do not match.
    """
    if unet.config.get("attention_type", "default") != "default":
        raise ValueError(f"the UNet already has attention_type={unet.config.attention_type!r}")
    config = {k: v for k, v in unet.config.items() if not k.startswith("_")}
    config["attention_type"] = "gated"
    gated = UNet2DConditionModel.from_config(config)
    missing, unexpected = gated.load_state_dict(unet.state_dict(), strict=False)
    bad = [k for k in missing if not _is_grounding(k)]
    if bad or unexpected:
        raise ValueError(
            f"the gated UNet does not match the source UNet: missing {bad[:5]}, unexpected {unexpected[:5]}"
        )
    if token_positions:
        add_token_positions(gated)
    if box_attention:
        add_box_attention(gated)
    if gated.dtype != unet.dtype or gated.device != unet.device:
        gated = gated.to(device=unet.device, dtype=unet.dtype)
    return gated


def grounding_parameters(unet: UNet2DConditionModel) -> list[torch.nn.Parameter]:
    """The parameters GLIGEN trains (``position_net`` and every ``fuser``); the rest stays frozen."""
    params = [p for n, p in unet.named_parameters() if _is_grounding(n)]
    if not params:
        raise ValueError("the UNet has no grounding layers; build it with gated_unet_from()")
    return params
