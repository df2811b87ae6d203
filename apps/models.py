"""Which models a demo's model box may load: named choices (presets, ``dummy``, ``auto``) or folders
under the demos' models root, nothing else.

``$WORKBENCH_DEMO_MODELS_ROOT`` names the root (unset: named choices only). A folder is given relative
to the root (``sd-small``, ``./sd-small``, ``sd-small/``) or as an absolute path inside it; it is
resolved (``..`` and symlinks followed) and refused when it lands outside the root. The resolved
spelling is the key the demos cache models by, so every spelling of one folder loads one copy.
Refusals are one line and echo at most what the client typed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from apps.limits import MAX_MODEL_CHARS, InputError, public_message, text
from workbench.loading import presets

__all__ = ["MODELS_ROOT_ENV", "models_root", "preset_names", "resolve_demo_model", "shown_model"]

MODELS_ROOT_ENV = "WORKBENCH_DEMO_MODELS_ROOT"


def models_root() -> Path | None:
    """The resolved models root, or ``None`` when none is configured (or it is not a folder)."""
    raw = os.environ.get(MODELS_ROOT_ENV, "").strip()
    if not raw:
        return None
    root = Path(raw).expanduser().resolve()
    return root if root.is_dir() else None


def preset_names(kind: str) -> list[str]:
    """The presets of :data:`workbench.loading.PRESETS` that have a ``kind`` model."""
    return [name for name, preset in presets().items() if kind in preset.sources]


def _echo(typed: str) -> str:
    """What the client typed, quoted, absolute paths scrubbed (as every client-facing message is)."""
    shown = repr(public_message(typed))
    return shown if len(shown) <= 80 else shown[:77] + "..."


def resolve_demo_model(typed: str, kind: str = "sd", names: Sequence[str] = ("dummy",)) -> str:
    """What a model box may load: a name (``names`` or a preset with a ``kind`` model) as it is, or the
    resolved absolute path of a folder under :func:`models_root`.

    Raises:
        InputError: empty or too long, not a name, no root configured, outside the root, not a folder.
    """
    typed = text("model", typed, MAX_MODEL_CHARS, required="choose a model (e.g. dummy or toy)")
    allowed = [*names, *preset_names(kind)]
    if typed in allowed:
        return typed
    root = models_root()
    if root is None:
        raise InputError(
            f"model {_echo(typed)} is not one of: {', '.join(allowed)} (this server loads no other model)"
        )
    if "\x00" in typed:
        raise InputError("model names no folder under the demo's models root")
    try:
        candidate = Path(typed).expanduser()
        folder = (candidate if candidate.is_absolute() else root / candidate).resolve()
    except (OSError, RuntimeError, ValueError) as err:
        raise InputError(f"model {_echo(typed)} names no folder under the demo's models root") from err
    if not folder.is_relative_to(root):
        raise InputError(f"model {_echo(typed)} lies outside the demo's models root; name a folder inside it")
    if not folder.is_dir():
        raise InputError(f"model {_echo(typed)} is not a folder under the demo's models root")
    return str(folder)


def shown_model(source: str) -> str:
    """A loaded model's description for the page: a folder under the models root as ``root/<relative>``,
    any other path scrubbed (the page names no server path)."""
    root = models_root()
    if root is not None and source.startswith("/"):
        try:
            return f"root/{Path(source).resolve().relative_to(root)}"
        except (OSError, ValueError):
            pass
    return public_message(source)
