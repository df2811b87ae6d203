"""Names to sources: presets, local folders and hub ids resolved (without loading) to where a model would
load from, and whether it can here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from workbench.plugins import load_plugins

from .errors import ModelNotAvailableError
from .hub import _how_to_get, _hub_cache_dir, hub_offline

ModelKind = Literal["sd", "clip", "captioner", "judge", "vision"]
MODEL_KINDS: tuple[str, ...] = ("sd", "clip", "captioner", "judge", "vision", "inversion-vae")
PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
SAFE_SUFFIX = ".safetensors"


@dataclass(frozen=True)
class Preset:
    """A named model set: one source (hub id or absolute local folder) per model kind.

    Attributes:
        missing: for local folders, how to get one that has no weights yet (e.g. the command that trains
            it), per model kind.
    """

    name: str
    sources: dict[str, str]
    description: str
    missing: dict[str, str] = field(default_factory=dict)


def register_preset(preset: Preset) -> Preset:
    """Add ``preset`` to :data:`PRESETS` (plugins call this; a name is registered once)."""
    if preset.name in PRESETS:
        raise KeyError(f"model preset {preset.name!r} is already registered; pick another name")
    PRESETS[preset.name] = preset
    return preset


def presets() -> dict[str, Preset]:
    """Every preset: the built-in hub presets and those the plugins register."""
    load_plugins()
    return PRESETS


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "sd15", {"sd": "stable-diffusion-v1-5/stable-diffusion-v1-5"}, "Stable Diffusion 1.5 (512 px)"
        ),
        Preset(
            "sd21", {"sd": "stabilityai/stable-diffusion-2-1"}, "Stable Diffusion 2.1 (768 px, v-prediction)"
        ),
        Preset("sd-turbo", {"sd": "stabilityai/sd-turbo"}, "SD-Turbo (1-4 steps, guidance 0)"),
        Preset("clip-b32", {"clip": "openai/clip-vit-base-patch32"}, "OpenAI CLIP ViT-B/32"),
        Preset("clip-l14", {"clip": "openai/clip-vit-large-patch14"}, "OpenAI CLIP ViT-L/14"),
        Preset("blip", {"captioner": "Salesforce/blip-image-captioning-base"}, "BLIP captioner (base)"),
        Preset("kosmos2", {"captioner": "microsoft/kosmos-2-patch14-224"}, "KOSMOS-2 captioner"),
        Preset("dinov2", {"vision": "facebook/dinov2-small"}, "DINOv2 ViT-S/14 features"),
    ]
}


@dataclass
class ResolvedModel:
    """Where a model would load from, and whether it can here.

    Attributes:
        name: what the caller asked for (preset, hub id or path).
        kind: ``sd``, ``clip``, ``captioner``, ``judge`` or ``vision``.
        source: the hub id or folder it maps to.
        local_path: the folder to load from (local folder or hub cache snapshot); ``None`` when it must
            be downloaded first.
        available: whether loading can succeed here.
        reason: a human explanation (how to get it when unavailable).
    """

    name: str
    kind: str | None
    source: str
    local_path: Path | None
    available: bool
    reason: str
    origin: Literal["local", "hub", "unknown"] = "unknown"
    details: dict[str, Any] = field(default_factory=dict)


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$|^[A-Za-z0-9][\w.-]*$")


def resolve_model(name: str, kind: str | None = None) -> ResolvedModel:
    """Find where ``name`` (preset, local path or hub id) would load from, without loading it.

    Args:
        name: a preset from :data:`PRESETS`, a local folder / file, or a hub id (``owner/model``).
        kind: the model kind wanted from a preset with several (``toy`` has sd, clip, captioner, judge).

    Raises:
        ValueError: ``kind`` is missing or not in the preset.
    """
    if kind is not None and kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; allowed: {', '.join(MODEL_KINDS)}")
    if name in presets():
        preset = PRESETS[name]
        if kind is None:
            if len(preset.sources) != 1:
                raise ValueError(
                    f"preset {name!r} has several models ({', '.join(preset.sources)}); pass kind="
                )
            kind = next(iter(preset.sources))
        if kind not in preset.sources:
            raise ValueError(f"preset {name!r} has no {kind} model; it has: {', '.join(preset.sources)}")
        source = preset.sources[kind]
        if Path(source).is_absolute():  # a folder a plugin ships (the toy world's models)
            return _resolve_folder(preset, kind, Path(source))
        resolved = _resolve_hub(source, kind)
        resolved.name = name
        return resolved
    path = Path(name).expanduser()
    if path.exists():
        return ResolvedModel(name, kind, str(path), path.resolve(), True, "local path", origin="local")
    if name.startswith(("/", "./", "../", "~")) or path.suffix.lower() in PICKLE_SUFFIXES + (SAFE_SUFFIX,):
        return ResolvedModel(
            name, kind, name, None, False, f"no such file or folder: {name!r}", origin="local"
        )
    if _HUB_ID.match(name):
        return _resolve_hub(name, kind)
    known = ", ".join(PRESETS)
    return ResolvedModel(
        name,
        kind,
        name,
        None,
        False,
        f"{name!r} is not a preset ({known}), an existing path, or a hub id (owner/model)",
    )


def _resolve_folder(preset: Preset, kind: str, folder: Path) -> ResolvedModel:
    """A preset's local folder: available when it holds safetensors weights."""
    if folder.is_dir() and any(folder.rglob("*" + SAFE_SUFFIX)):
        return ResolvedModel(preset.name, kind, str(folder), folder, True, "shipped model", origin="local")
    hint = preset.missing.get(kind, "give another model")
    return ResolvedModel(
        preset.name,
        kind,
        str(folder),
        None,
        False,
        f"{kind} model of preset {preset.name!r} has no weights yet ({folder}); {hint}",
        origin="local",
    )


def _resolve_hub(repo_id: str, kind: str | None) -> ResolvedModel:
    try:
        from huggingface_hub import snapshot_download

        local = Path(snapshot_download(repo_id, local_files_only=True))
        return ResolvedModel(
            repo_id, kind, repo_id, local, True, f"in the Hugging Face cache ({local})", origin="hub"
        )
    except Exception as exc:  # LocalEntryNotFoundError and friends: not cached
        cached_error = exc
    if hub_offline():
        return ResolvedModel(
            repo_id,
            kind,
            repo_id,
            None,
            False,
            f"model {repo_id!r} is not in the local Hugging Face cache ({_hub_cache_dir()}) and the hub is offline "
            f"(HF_HUB_OFFLINE=1); {_how_to_get(repo_id)}",
            origin="hub",
            details={"cache_error": f"{type(cached_error).__name__}"},
        )
    return ResolvedModel(
        repo_id,
        kind,
        repo_id,
        None,
        True,
        "not cached; will download from the Hugging Face hub",
        origin="hub",
    )


def _require(name: str, kind: str) -> ResolvedModel:
    resolved = resolve_model(name, kind=kind if name in presets() else None)
    resolved.kind = kind
    if not resolved.available:
        raise ModelNotAvailableError(f"cannot load {kind} model {name!r}: {resolved.reason}")
    return resolved
