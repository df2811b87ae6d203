"""Checkpoint stores for mining state: tensors plus string metadata, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

import torch


class CheckpointStore(Protocol):
    """Where a mining run keeps its resumable state."""

    def load(self) -> tuple[dict[str, torch.Tensor], dict[str, str]] | None:
        """The last saved ``(tensors, metadata)``, or ``None`` when nothing was saved."""

    def save(self, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
        """Replace the saved state."""


class FileCheckpoint:
    """A single safetensors file, replaced atomically on every save (never a pickle).

    Args:
        path: the file, e.g. ``<run>/checkpoint/mining.safetensors``; its folder is created.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> tuple[dict[str, torch.Tensor], dict[str, str]] | None:
        if not self.path.is_file():
            return None
        from safetensors import safe_open

        with safe_open(str(self.path), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
            metadata = dict(f.metadata() or {})
        return tensors, metadata

    def save(self, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
        from safetensors.torch import save_file

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".safetensors")
        os.close(fd)
        try:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class MemoryCheckpoint:
    """A checkpoint kept in memory (the demo's stop / resume within one process, and tests)."""

    def __init__(self) -> None:
        self._state: tuple[dict[str, torch.Tensor], dict[str, str]] | None = None

    def load(self) -> tuple[dict[str, torch.Tensor], dict[str, str]] | None:
        if self._state is None:
            return None
        tensors, metadata = self._state
        return {k: v.clone() for k, v in tensors.items()}, dict(metadata)

    def save(self, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
        self._state = ({k: v.detach().cpu().clone() for k, v in tensors.items()}, dict(metadata))

    def clear(self) -> None:
        self._state = None
