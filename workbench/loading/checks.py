"""Safety checks before and after loading: pickle-only weights refused, tokenizers that loaded without
their vocabulary caught."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import BrokenTokenizerError, ModelNotAvailableError, UnsafeCheckpointError
from .hub import _how_to_get
from .resolve import PICKLE_SUFFIXES, SAFE_SUFFIX

MIN_VOCAB = 100


def check_weights(folder: Path, name: str, allow_pickle: bool) -> None:
    """Refuse a folder whose weights are pickle checkpoints only (checked per component sub-folder).

    Raises:
        UnsafeCheckpointError: pickle-only weights and ``allow_pickle`` is False.
        ModelNotAvailableError: no weights at all.
    """
    if folder.is_file():
        if folder.suffix.lower() in PICKLE_SUFFIXES and not allow_pickle:
            raise UnsafeCheckpointError(_unsafe_message(name, [folder]))
        return
    groups: dict[Path, list[Path]] = {}
    for f in folder.rglob("*"):
        if f.is_file() and (f.suffix == SAFE_SUFFIX or f.suffix.lower() in PICKLE_SUFFIXES):
            groups.setdefault(f.parent, []).append(f)
    if not groups:
        raise ModelNotAvailableError(
            f"model {name!r}: no weight files (*.safetensors) found in {str(folder)!r}; the folder is incomplete"
        )
    unsafe = [
        f for files in groups.values() if not any(f.suffix == SAFE_SUFFIX for f in files) for f in files
    ]
    if unsafe and not allow_pickle:
        raise UnsafeCheckpointError(_unsafe_message(name, unsafe))


def _unsafe_message(name: str, files: list[Path]) -> str:
    shown = ", ".join(str(f) for f in files[:4]) + (" ..." if len(files) > 4 else "")
    return (
        f"model {name!r} has only pickle checkpoints ({shown}); pickle files can run arbitrary code when loaded. "
        "Convert them to safetensors, or pass allow_pickle=True if you trust the source"
    )


def check_tokenizer(tokenizer: Any, expected_vocab: int | None, name: str) -> None:
    """Raise :class:`BrokenTokenizerError` when ``tokenizer`` has < 100 tokens but the model expects more."""
    if tokenizer is None:
        return
    size = len(tokenizer)
    if size < MIN_VOCAB and (expected_vocab is None or expected_vocab > size):
        raise BrokenTokenizerError(
            f"model {name!r}: its tokenizer loaded with only {size} tokens (the model expects "
            f"{expected_vocab if expected_vocab is not None else 'many more'}); the tokenizer files "
            f"(tokenizer.json or vocab.json + merges.txt) are missing or incomplete. {_how_to_get(name)}"
        )
