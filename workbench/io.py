"""Atomic file writes and image / tensor conversions.

Every write goes to a hidden temporary file in the destination's folder (``.<name>.<random>.tmp``),
is flushed to disk, then renamed over the destination with ``os.replace``: a reader (or a run killed
with SIGKILL) sees the old file or the new one, never half of one. Leftover ``.tmp`` files of a killed
process are removed by :func:`remove_stale_temp_files`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

TEMP_SUFFIX = ".tmp"

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "image_to_png_bytes",
    "load_image",
    "load_tensors",
    "pil_to_tensor",
    "remove_stale_temp_files",
    "save_image",
    "save_tensors",
    "sha256_file",
    "to_pil",
]


# ---------------------------------------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds it replaces ``path`` atomically.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("hello")
        >>> target.read_text()
        'hello'
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as err:
        raise _naming(err, path) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        try:
            os.replace(tmp, path)
        except OSError as err:
            raise _naming(err, path) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _naming(err: OSError, path: Path) -> OSError:
    """``err`` (same class and errno) naming the destination ``path`` instead of a temporary file."""
    return type(err)(err.errno, err.strerror or str(err), str(path))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (keys in insertion order, non-JSON values via ``str``)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the hidden ``.*.tmp`` files an interrupted process left under ``folder``; returns them."""
    removed = []
    for tmp in Path(folder).rglob(f".*{TEMP_SUFFIX}"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file (or of every file under a folder, in sorted relative-path order)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as fh:
            while block := fh.read(chunk_size):
                digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- images
def to_pil(image: torch.Tensor | np.ndarray | Image.Image) -> Image.Image:
    """Convert one image to an RGB (or L) ``PIL.Image``.

    Args:
        image: a ``PIL.Image``; a float tensor of shape ``(3, H, W)``, ``(1, 3, H, W)`` or ``(1, H, W)``
            with values in [0, 1] (clamped); or a ``uint8`` / float [0, 1] array of shape ``(H, W, 3)``.
    """
    if isinstance(image, Image.Image):
        return image if image.mode in ("RGB", "L", "RGBA") else image.convert("RGB")
    if isinstance(image, torch.Tensor):
        t = image.detach().to("cpu")
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ValueError(f"to_pil takes one image; got a batch of shape {tuple(t.shape)}")
            t = t[0]
        if t.ndim != 3 or t.shape[0] not in (1, 3):
            raise ValueError(
                f"expected an image tensor of shape (3, H, W) or (1, H, W), got {tuple(t.shape)}"
            )
        if t.dtype == torch.uint8:
            arr = t.permute(1, 2, 0).numpy()  # (H, W, C)
        else:
            arr = (t.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, C)
        return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    if isinstance(image, np.ndarray):
        arr = image
        if arr.dtype != np.uint8:
            arr = (np.clip(arr.astype(np.float32), 0, 1) * 255).round().astype(np.uint8)
        return Image.fromarray(arr)
    raise TypeError(
        f"cannot convert {type(image).__name__} to an image; pass a tensor, an array or a PIL image"
    )


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """A ``PIL.Image`` as a float tensor of shape ``(3, H, W)`` in [0, 1]."""
    arr = np.asarray(image.convert("RGB"), dtype=np.uint8)  # (H, W, 3)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255.0


def image_to_png_bytes(image: torch.Tensor | np.ndarray | Image.Image) -> bytes:
    """Encode one image (see :func:`to_pil`) as PNG bytes (deterministic for equal pixels)."""
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG")
    return buffer.getvalue()


def save_image(path: str | Path, image: torch.Tensor | np.ndarray | Image.Image) -> Path:
    """Save one image as PNG atomically (``.png`` is appended when missing)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        path = path.with_name(path.name + ".png")
    return atomic_write_bytes(path, image_to_png_bytes(image))


def load_image(path: str | Path) -> torch.Tensor:
    """Read an image file as a float tensor of shape ``(3, H, W)`` in [0, 1]."""
    with Image.open(path) as im:
        return pil_to_tensor(im)


# ---------------------------------------------------------------------------------------------- tensors
def save_tensors(
    path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> Path:
    """Save named tensors as safetensors atomically (``.safetensors`` appended when missing).

    Tensors are moved to the CPU and made contiguous; ``metadata`` is a str -> str mapping.
    """
    from safetensors.torch import save as st_save

    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    bad = [k for k, v in tensors.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise TypeError(f"save_tensors takes a dict of tensors; not tensors: {bad}")
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    return atomic_write_bytes(path, st_save(cpu, metadata=metadata))


def load_tensors(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a safetensors file into a dict of tensors on ``device``."""
    from safetensors.torch import load_file

    return load_file(str(path), device=str(device))
