"""Compact storage of exported diffusers pipelines: the package ships its toy models under a size budget.

The diffusers models of a pipeline (UNet, VAE, adapters) are written with float16 weights
(:func:`save_pipeline_half`, :func:`save_model_half`, from :mod:`workbench.loading.storage`); stock loading
(``StableDiffusionPipeline.from_pretrained(dir)``) is unchanged.

Weight files shared between shipped folders (the VAE of every toy SD, their text encoder) are stored once:
:func:`link_duplicates` replaces each copy by a relative symlink to one file, which the stock
``from_pretrained`` follows; :func:`unshare` removes a folder's links before an export rewrites it, so an
export never writes through a link into another model's folder.

Example:
    >>> save_pipeline_half(pipe, "toyworld/models/sd")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from pathlib import Path

from workbench.loading.storage import save_model_half, save_pipeline_half

__all__ = ["link_duplicates", "save_model_half", "save_pipeline_half", "unshare"]

WEIGHT_SUFFIX = ".safetensors"


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def link_duplicates(root: str | Path) -> list[tuple[Path, Path]]:
    """Store each weight file under ``root`` once: every other byte-identical ``*.safetensors`` file
    becomes a relative symlink to the one with the shortest path. Returns ``(link, target)`` pairs made."""
    root = Path(root)
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(root.rglob("*" + WEIGHT_SUFFIX)):
        if path.is_file() and not path.is_symlink():
            groups[_digest(path)].append(path)
    made = []
    for paths in groups.values():
        target, *copies = sorted(paths, key=lambda p: (len(p.relative_to(root).parts), len(str(p)), str(p)))
        for copy_path in copies:
            relative = Path(os.path.relpath(target, copy_path.parent))
            tmp = copy_path.with_name(copy_path.name + ".link")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(relative)
            tmp.replace(copy_path)  # atomic: the folder always holds a loadable file
            made.append((copy_path, target))
    return made


def unshare(folder: str | Path) -> list[Path]:
    """Remove the symlinks under ``folder`` (before an export rewrites it); returns them."""
    folder = Path(folder)
    links = [p for p in folder.rglob("*") if p.is_symlink()] if folder.exists() else []
    for link in links:
        link.unlink()
    return links
