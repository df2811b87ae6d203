"""Layer selection by block names: dotted glob patterns and named presets resolved against the keys of
``unet.attn_processors``, never integer layer counters (which shift across diffusers versions and UNet
shapes).

A key looks like ``up_blocks.2.attentions.1.transformer_blocks.0.attn1.processor``. In a pattern, ``*``
matches exactly one dotted component (``up_blocks.*``), ``**`` any number of components (``**.attn1``),
and the trailing ``.processor`` is optional. Presets:

- ``"freecustom"``: the self-attention (``attn1``) of every transformer block in the last two decoder
  levels that have attention. On SD-1.x / SD-2.x UNets that is ``up_blocks.2`` and ``up_blocks.3``: the
  transformer blocks 10-15 of 16 in execution order, FreeCustom's ``layer_idx`` 10-15.
- ``"decoder"``: every self-attention of the decoder (``up_blocks``).
- ``"all"``: every self-attention of the UNet.

Example:
    >>> from workbench.dummy import dummy_unet
    >>> resolve_layers(dummy_unet(), "freecustom")
    ['up_blocks.1.attentions.0.transformer_blocks.0.attn1', 'up_blocks.1.attentions.1.transformer_blocks.0.attn1']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from typing import Any

PROCESSOR_SUFFIX = ".processor"
_UP_SELF = re.compile(r"^up_blocks\.(\d+)\.attentions\.\d+\.transformer_blocks\.\d+\.attn1$")

__all__ = ["LAYER_PRESETS", "layer_names", "match_pattern", "resolve_layers", "strip_processor_suffix"]


def strip_processor_suffix(key: str) -> str:
    """``"a.attn1.processor"`` -> ``"a.attn1"`` (module names are what selections return)."""
    return key[: -len(PROCESSOR_SUFFIX)] if key.endswith(PROCESSOR_SUFFIX) else key


def layer_names(unet: Any) -> list[str]:
    """Module names of every attention layer of ``unet``, in ``unet.attn_processors`` order."""
    return [strip_processor_suffix(k) for k in unet.attn_processors]


def _is_self_attention(unet: Any, name: str) -> bool:
    return not bool(getattr(unet.get_submodule(name), "is_cross_attention", False))


def _match_parts(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match_parts(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], head) and _match_parts(rest, parts[1:])


def match_pattern(pattern: str, name: str) -> bool:
    """Whether dotted glob ``pattern`` matches module name ``name`` (``*``: one component, ``**``: any)."""
    return _match_parts(strip_processor_suffix(pattern).split("."), strip_processor_suffix(name).split("."))


def _preset_freecustom(unet: Any) -> list[str]:
    names = [n for n in layer_names(unet) if _UP_SELF.match(n)]
    levels = sorted({int(_UP_SELF.match(n).group(1)) for n in names})
    if not levels:
        raise ValueError(
            "layer preset 'freecustom' needs decoder self-attention layers named "
            "'up_blocks.<i>.attentions.<j>.transformer_blocks.<k>.attn1'; this UNet has none "
            f"(first layers: {', '.join(layer_names(unet)[:4]) or '(none)'}). Pass explicit patterns instead"
        )
    last_two = set(levels[-2:])
    return [n for n in names if int(_UP_SELF.match(n).group(1)) in last_two]


def _preset_decoder(unet: Any) -> list[str]:
    return [n for n in layer_names(unet) if n.startswith("up_blocks.") and _is_self_attention(unet, n)]


def _preset_all(unet: Any) -> list[str]:
    return [n for n in layer_names(unet) if _is_self_attention(unet, n)]


LAYER_PRESETS: dict[str, Callable[[Any], list[str]]] = {
    "freecustom": _preset_freecustom,
    "decoder": _preset_decoder,
    "all": _preset_all,
}


def resolve_layers(unet: Any, selection: str | Sequence[str], self_attention_only: bool = True) -> list[str]:
    """Resolve a layer selection to attention module names of ``unet``.

    Args:
        unet: a `diffusers.UNet2DConditionModel` (anything with ``attn_processors`` and ``get_submodule``).
        selection: a preset name (see :data:`LAYER_PRESETS`), one dotted glob pattern, or a list of
            patterns and presets (their union). An empty list selects nothing.
        self_attention_only: refuse a selection that reaches a cross-attention layer (``attn2``).

    Returns:
        Module names (``"up_blocks.2.attentions.0.transformer_blocks.0.attn1"``), in ``unet.attn_processors``
        order, without duplicates.

    Raises:
        ValueError: a pattern matches no layer (the message lists some layer names), or selects a
            cross-attention layer while ``self_attention_only``.
    """
    items = [selection] if isinstance(selection, str) else list(selection)
    names = layer_names(unet)
    chosen: set[str] = set()
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"a layer selection item must be a non-empty string, got {item!r}")
        item = item.strip()
        if item in LAYER_PRESETS:
            chosen.update(LAYER_PRESETS[item](unet))
            continue
        hits = [n for n in names if match_pattern(item, n)]
        if not hits:
            shown = ", ".join(names[:6]) + (" ..." if len(names) > 6 else "")
            raise ValueError(
                f"layer pattern {item!r} matches no attention layer of this UNet ({len(names)} layers: {shown}); "
                f"'*' matches one dotted component, '**' several; presets: {', '.join(LAYER_PRESETS)}"
            )
        if self_attention_only:
            cross = [n for n in hits if not _is_self_attention(unet, n)]
            if cross:
                raise ValueError(
                    f"layer pattern {item!r} selects cross-attention layer(s) ({cross[0]}"
                    f"{' ...' if len(cross) > 1 else ''}); reference attention replaces self-attention only: "
                    "select '...attn1' layers"
                )
        chosen.update(hits)
    return [n for n in names if n in chosen]
