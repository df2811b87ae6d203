"""The one checkpoint API of every long loop: one safetensors file per finished work item.

A key names a work item (``"image/0007"``, ``"step/200"``), never a process. Each key is written
atomically, so after a SIGKILL a key is either complete or absent, and ``workbench run --resume``
skips every key that :meth:`Checkpoint.done` reports.

Example:
    >>> import tempfile, torch
    >>> ckpt = Checkpoint(tempfile.mkdtemp())
    >>> ckpt.save("image/0", {"x": torch.ones(2)}, {"prompt": "a cat"})
    >>> ckpt.done("image/0"), ckpt.load("image/0")[1]
    (True, {'prompt': 'a cat'})
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import torch

from workbench.io import load_tensors, save_tensors

SUFFIX = ".safetensors"
_META_KEY = "workbench.meta"


class Checkpoint:
    """Per-item checkpoints under ``folder`` (``<run>/checkpoints``).

    Args:
        folder: where the files live.
        enabled: ``False`` on non-writing processes; :meth:`save` is then a no-op.

    Every process writes the keys of its own work items (keys are disjoint across processes); all other
    run files are written by the main process only.
    """

    def __init__(self, folder: str | Path, enabled: bool = True) -> None:
        self.folder = Path(folder)
        self.enabled = enabled

    def path(self, key: str) -> Path:
        if not key or not isinstance(key, str) or key.startswith("."):
            raise ValueError(
                f"a checkpoint key must be a non-empty string not starting with '.', got {key!r}"
            )
        return self.folder / (quote(key, safe="-_.=+,@") + SUFFIX)

    def done(self, key: str) -> bool:
        """Whether ``key`` was saved (completely: files appear atomically)."""
        return self.path(key).is_file()

    def save(
        self, key: str, tensors: dict[str, torch.Tensor] | None = None, meta: dict[str, Any] | None = None
    ) -> None:
        """Save the tensors and JSON-able ``meta`` of a finished work item under ``key``."""
        if not self.enabled:
            return
        metadata = {_META_KEY: json.dumps(meta if meta is not None else {}, default=str)}
        save_tensors(self.path(key), dict(tensors or {}), metadata=metadata)

    def load(
        self, key: str, device: str | torch.device = "cpu"
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """``(tensors, meta)`` of a saved key; ``KeyError`` if it was never saved."""
        from safetensors import safe_open

        path = self.path(key)
        if not path.is_file():
            raise KeyError(f"checkpoint {key!r} not found in {str(self.folder)!r}; check done(key) first")
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(_META_KEY, "{}")
        return load_tensors(path, device=device), json.loads(raw)

    def keys(self) -> list[str]:
        """Every saved key, sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(
            unquote(p.name[: -len(SUFFIX)])
            for p in self.folder.glob("*" + SUFFIX)
            if not p.name.startswith(".")
        )

    def __len__(self) -> int:
        return len(self.keys())
