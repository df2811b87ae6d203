"""GLIGEN grounding layers stored apart from the model they extend.

A grounding adapter folder holds only what GLIGEN adds to a text-to-image UNet (``position_net`` and
every ``fuser``: 2.4 M parameters on the toy SD, against 9.2 M for the whole grounded UNet) plus the
name of its base pipeline::

    gligen/
        adapter.json               {"format": "gligen-grounding", "base": "toy",
                                    "token_positions": false, "box_attention": false,
                                    "class_phrases": false}
        grounding.safetensors      float16 weights of the grounding layers

Loading builds the base's gated UNet and fills in the grounding layers, giving the same
``StableDiffusionGLIGENPipeline`` a full pipeline folder would; ``pipe.save_pretrained`` writes that full
folder for tools that expect one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .box_attention import has_box_attention
from .model import _is_grounding, gated_unet_from
from .positional import has_token_positions

ADAPTER_FILE = "adapter.json"
WEIGHTS_FILE = "grounding.safetensors"
FORMAT = "gligen-grounding"


def is_adapter_folder(folder: str | Path) -> bool:
    return (Path(folder) / ADAPTER_FILE).is_file()


def grounding_state(unet: Any) -> dict[str, torch.Tensor]:
    """The grounding layers' weights of a gated ``unet`` (name -> tensor)."""
    state = {k: v for k, v in unet.state_dict().items() if _is_grounding(k)}
    if not state:
        raise ValueError("the UNet has no grounding layers; build it with gated_unet_from()")
    return state


def save_grounding_adapter(unet: Any, folder: str | Path, base: str, class_phrases: bool = False) -> Path:
    """Write ``unet``'s grounding layers (float16) and the ``base`` pipeline's name into ``folder``.

    Args:
        unet: a gated ``UNet2DConditionModel`` (``attention_type="gated"``).
        folder: the adapter folder (created).
        base: what :func:`workbench.loading.load_sd_pipeline` loads the base from (a preset such as
            ``"toy"``, a hub id or a folder).
        class_phrases: whether class-word scenes were grounded by class phrases in training (recorded only;
            no weight tells it).
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in grounding_state(unet).items()}
    save_file(state, str(folder / WEIGHTS_FILE))
    meta = {
        "format": FORMAT,
        "base": base,
        "token_positions": has_token_positions(unet),
        "box_attention": has_box_attention(unet),
        "class_phrases": class_phrases,
    }
    (folder / ADAPTER_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def read_adapter(folder: str | Path) -> dict[str, Any]:
    """The adapter's ``adapter.json``, checked.

    Raises:
        ValueError: not a grounding adapter, or its weights file is missing.
    """
    folder = Path(folder)
    meta = json.loads((folder / ADAPTER_FILE).read_text())
    if meta.get("format") != FORMAT or not meta.get("base"):
        raise ValueError(
            f"{folder / ADAPTER_FILE} is not a GLIGEN grounding adapter (format {FORMAT!r} + base)"
        )
    if not (folder / WEIGHTS_FILE).is_file():
        raise ValueError(
            f"{folder} lacks {WEIGHTS_FILE}; the adapter is incomplete: export or train it again"
        )
    return meta


def load_grounding_into(unet: Any, folder: str | Path) -> Any:
    """Fill a gated ``unet``'s grounding layers from an adapter folder (in the UNet's dtype).

    Raises:
        ValueError: the adapter's layers do not match the UNet's (another base, or another UNet shape).
    """
    from safetensors.torch import load_file

    state = load_file(str(Path(folder) / WEIGHTS_FILE))
    own = grounding_state(unet)
    if set(state) != set(own):
        missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        raise ValueError(
            f"the grounding adapter in {folder} does not fit this UNet: missing {missing[:3]}, "
            f"unexpected {extra[:3]}; it was trained on another base model"
        )
    bad = [k for k, v in state.items() if v.shape != own[k].shape]
    if bad:
        raise ValueError(f"the grounding adapter in {folder} has other shapes than this UNet at {bad[:3]}")
    unet.load_state_dict(state, strict=False)
    return unet


def gated_unet_with_adapter(base_unet: Any, folder: str | Path) -> Any:
    """The gated copy of ``base_unet`` with the adapter's grounding layers (positional fusers when the
    adapter says ``"token_positions": true``, box-masked attention when it says ``"box_attention": true``)."""
    meta = read_adapter(folder)
    unet = gated_unet_from(
        base_unet,
        token_positions=bool(meta.get("token_positions", False)),
        box_attention=bool(meta.get("box_attention", False)),
    )
    return load_grounding_into(unet, folder)
