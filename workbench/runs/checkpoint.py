"""The one checkpoint API of every long loop: one safetensors file per finished work item.

A key names a work item (``"image/0007"``, ``"step/200"``), never a process. Each key is written
atomically, so after a SIGKILL a key is either complete or absent, and ``workbench run --resume``
skips every key that :meth:`Checkpoint.done` reports.

Every file carries its own SHA-256 (``workbench.sha256`` in the safetensors header metadata, covering
the rest of the header and all tensor bytes), so the checksum is written by the same atomic rename as
the data. :meth:`Checkpoint.done` and :meth:`Checkpoint.load` verify it: a file that is truncated,
has a changed byte or has no checksum is logged (one line naming the file), deleted and reported as
not done, so its work item is redone; it is never used.

Example:
    >>> import tempfile, torch
    >>> ckpt = Checkpoint(tempfile.mkdtemp())
    >>> ckpt.save("image/0", {"x": torch.ones(2)}, {"prompt": "a cat"})
    >>> ckpt.done("image/0"), ckpt.load("image/0")[1]
    (True, {'prompt': 'a cat'})
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import torch

from workbench.io import atomic_write_bytes

logger = logging.getLogger(__name__)

SUFFIX = ".safetensors"
_META_KEY = "workbench.meta"
DIGEST_KEY = "workbench.sha256"
_HEADER_LEN = 8  # a safetensors file starts with its header's byte length (u64, little-endian)


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file failed its checksum when it was loaded (it has been deleted)."""


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
        """Whether ``key`` was saved completely and its checksum holds.

        A file that fails the check is logged, deleted and reported as not done.
        """
        path = self.path(key)
        if not path.is_file():
            return False
        problem = verify_bytes(_read(path))
        if problem is not None:
            discard(path, problem)
            return False
        return True

    def save(
        self, key: str, tensors: dict[str, torch.Tensor] | None = None, meta: dict[str, Any] | None = None
    ) -> None:
        """Save the tensors and JSON-able ``meta`` of a finished work item under ``key``."""
        if not self.enabled:
            return
        metadata = {_META_KEY: json.dumps(meta if meta is not None else {}, default=str)}
        atomic_write_bytes(self.path(key), checked_safetensors_bytes(dict(tensors or {}), metadata))

    def load(
        self, key: str, device: str | torch.device = "cpu"
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """``(tensors, meta)`` of a saved key.

        Raises:
            KeyError: it was never saved.
            CorruptCheckpointError: the file fails its checksum (it is deleted; a resumed run redoes it).
        """
        from safetensors.torch import load as st_load

        path = self.path(key)
        if not path.is_file():
            raise KeyError(f"checkpoint {key!r} not found in {str(self.folder)!r}; check done(key) first")
        data = _read(path)
        problem = verify_bytes(data)
        if problem is not None:
            discard(path, problem)
            raise CorruptCheckpointError(
                f"checkpoint {path} is corrupt ({problem}); it was deleted: resume the run to redo it"
            )
        header = _parse_header(data)
        raw = (header.get("__metadata__") or {}).get(_META_KEY, "{}")
        tensors = st_load(data)
        if str(device) != "cpu":
            tensors = {k: v.to(device) for k, v in tensors.items()}
        return tensors, json.loads(raw)

    def keys(self) -> list[str]:
        """Every saved key (a file exists; :meth:`done` verifies it), sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(
            unquote(p.name[: -len(SUFFIX)])
            for p in self.folder.glob("*" + SUFFIX)
            if not p.name.startswith(".")
        )

    def __len__(self) -> int:
        return len(self.keys())


# ---------------------------------------------------------------------------------------------- checksums
def checked_safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """A safetensors file of ``tensors`` whose header metadata holds its own SHA-256 (see :func:`digest`).

    Tensors are moved to the CPU and made contiguous.
    """
    from safetensors.torch import save as st_save

    bad = [k for k, v in tensors.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise TypeError(f"a checkpoint holds tensors only; not tensors: {bad}")
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    plain = st_save(cpu, metadata=metadata)
    header = _parse_header(plain)
    # The tensor bytes and their offsets do not depend on the metadata, so the digest of ``plain``
    # holds for the file written with the digest added.
    checksum = digest(header, memoryview(plain)[_data_start(plain) :])
    return st_save(cpu, metadata={**metadata, DIGEST_KEY: checksum})


def digest(header: dict[str, Any], data: bytes | memoryview) -> str:
    """Hex SHA-256 of a safetensors header (without its ``workbench.sha256`` entry, as canonical JSON)
    followed by the tensor bytes."""
    canonical = dict(header)
    meta = {k: v for k, v in (canonical.pop("__metadata__", None) or {}).items() if k != DIGEST_KEY}
    if meta:
        canonical["__metadata__"] = meta
    sha = hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode())
    sha.update(data)
    return sha.hexdigest()


def verify_bytes(data: bytes) -> str | None:
    """``None`` when ``data`` is a complete checkpoint file whose checksum holds, else what is wrong."""
    if len(data) < _HEADER_LEN:
        return f"truncated: {len(data)} bytes, shorter than a header"
    (length,) = struct.unpack("<Q", data[:_HEADER_LEN])
    if _HEADER_LEN + length > len(data):
        return f"truncated: {len(data)} bytes, its header alone needs {_HEADER_LEN + length}"
    try:
        header = _parse_header(data)
    except ValueError as exc:
        return f"unreadable header: {exc}"
    expected = (header.get("__metadata__") or {}).get(DIGEST_KEY)
    if not isinstance(expected, str):
        return "it has no checksum"
    body = memoryview(data)[_data_start(data) :]
    needed = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if len(body) < needed:
        return f"truncated: {len(body)} of {needed} tensor bytes"
    if digest(header, body) != expected:
        return "its bytes do not match its checksum"
    return None


def discard(path: Path, problem: str) -> None:
    """Delete a checkpoint that failed its check, logging one line that names it."""
    logger.warning("checkpoint %s is corrupt (%s); discarded, its work item will be redone", path, problem)
    path.unlink(missing_ok=True)


def _read(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _data_start(data: bytes | memoryview) -> int:
    (length,) = struct.unpack("<Q", bytes(data[:_HEADER_LEN]))
    return _HEADER_LEN + int(length)


def _parse_header(data: bytes) -> dict[str, Any]:
    """The JSON header of safetensors bytes; ``ValueError`` when it is not a JSON object."""
    try:
        header = json.loads(bytes(data[_HEADER_LEN : _data_start(data)]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise ValueError(f"header entry {name!r} has no valid data_offsets")
    return header
