"""Finding and loading LPIPS weights: the backbone checkpoints and the ``lpips`` package's heads.

Backbone files are looked up, in order, at: the ``backbone_path`` argument (a file or a folder), the
folder named by ``$WORKBENCH_LPIPS_BACKBONE_DIR``, and torch hub's checkpoint cache
(``$TORCH_HOME/hub/checkpoints``, where torchvision keeps ``alexnet-owt-7be5be79.pth`` /
``vgg16-397923af.pth``). ``.safetensors`` files load with safetensors; torchvision's ``.pth`` files
load with ``torch.load(weights_only=True)``, which reads tensors only and runs no pickled code.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import torch

from metrics.perceptual.backbones import BACKBONES, BackboneSpec

logger = logging.getLogger(__name__)

LPIPS_BACKBONE_ENV = "WORKBENCH_LPIPS_BACKBONE_DIR"


class LPIPSWeightsError(FileNotFoundError):
    """LPIPS weights are missing (LPIPS never falls back to a random backbone on its own)."""


def backbone_spec(net: str) -> BackboneSpec:
    if net not in BACKBONES:
        raise ValueError(f"unknown LPIPS backbone {net!r}; choose one of {sorted(BACKBONES)}")
    return BACKBONES[net]


def _hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_backbone_file(net: str, backbone_path: str | os.PathLike | None = None) -> Path:
    """The checkpoint file for ``net`` (``"alex"`` or ``"vgg"``), or :class:`LPIPSWeightsError` naming
    every place searched and what to put there."""
    spec = backbone_spec(net)
    folders: list[Path] = []
    if backbone_path is not None:
        p = Path(backbone_path)
        if p.is_file():
            return p
        if not p.is_dir():
            raise LPIPSWeightsError(f"LPIPS backbone_path {str(p)!r} does not exist")
        folders.append(p)
    if os.environ.get(LPIPS_BACKBONE_ENV):
        folders.append(Path(os.environ[LPIPS_BACKBONE_ENV]))
    folders.append(_hub_checkpoint_dir())
    for folder in folders:
        for name in spec.files:
            if (folder / name).is_file():
                return folder / name
    searched = "\n".join(f"  - {f}" for f in folders)
    raise LPIPSWeightsError(
        f"LPIPS ({net}) needs the ImageNet {spec.builder.__name__.replace('Features', '')} backbone weights "
        f"{spec.files[0]!r} (torchvision's file) or a safetensors conversion ({', '.join(spec.files[1:])}), "
        f"and none was found in:\n{searched}\n"
        f"Copy the file into one of these folders, set ${LPIPS_BACKBONE_ENV} to the folder holding it, or "
        "pass backbone_path=. (On a machine with internet, torchvision downloads it to the torch hub "
        "cache the first time torchvision.models."
        f"{'alexnet' if net == 'alex' else 'vgg16'}(weights='DEFAULT') runs.) LPIPS from a random "
        "backbone is meaningless, so there is no automatic fallback."
    )


def load_state_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` or ``.pth`` file (the latter with ``weights_only=True``)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{str(path)!r} does not hold a state dict (got {type(state).__name__})")
    return state


def backbone_features_state(state: dict[str, torch.Tensor], net: str, source: str) -> dict[str, torch.Tensor]:
    """The ``features.*`` entries of a torchvision state dict, checked against the backbone's layout."""
    expected = backbone_spec(net).builder().state_dict()
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    missing = sorted(set(expected) - set(features))
    if missing:
        raise ValueError(
            f"{source} is not a torchvision {net} checkpoint: missing {missing[:4]}{'...' if len(missing) > 4 else ''}"
        )
    for key, value in expected.items():
        if tuple(features[key].shape) != tuple(value.shape):
            raise ValueError(
                f"{source}: {key} has shape {tuple(features[key].shape)}, expected {tuple(value.shape)}"
            )
    return {k: features[k] for k in expected}


def lpips_package_weights_dir() -> Path:
    """``<site-packages>/lpips/weights/v0.1``, located without importing ``lpips`` (which imports
    torchvision)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise LPIPSWeightsError(
            "LPIPS needs the linear-head weights shipped in the 'lpips' package; install it with "
            "`pip install --no-deps lpips` (its torchvision dependency is not needed)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "weights" / "v0.1"


def load_lpips_heads(net: str, heads_path: str | os.PathLike | None = None) -> list[torch.Tensor]:
    """The 5 published linear heads for ``net``, each `(1, C_k, 1, 1)`.

    Args:
        heads_path: a ``.pth`` / ``.safetensors`` file with keys ``lin{k}.model.1.weight``; default the
            ``lpips`` package's ``weights/v0.1/<net>.pth``.
    """
    spec = backbone_spec(net)
    path = Path(heads_path) if heads_path is not None else lpips_package_weights_dir() / spec.heads_file
    if not path.is_file():
        raise LPIPSWeightsError(f"LPIPS linear heads not found at {str(path)!r}")
    state = load_state_file(path)
    heads = []
    for k, channels in enumerate(spec.channels):
        key = f"lin{k}.model.1.weight"
        if key not in state:
            raise ValueError(f"{str(path)!r} has no {key!r}; is it an LPIPS v0.1 {net} head file?")
        w = state[key].float()
        if tuple(w.shape) != (1, channels, 1, 1):
            raise ValueError(
                f"{str(path)!r}: {key} has shape {tuple(w.shape)}, expected (1, {channels}, 1, 1)"
            )
        heads.append(w)
    return heads
