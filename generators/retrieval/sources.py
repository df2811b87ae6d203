"""Where knowledge-base entries come from: a folder of captioned images, a CSV / parquet table of
(image path, text), or the toy world's entity catalogue.

A source is an indexed, deterministic list of :class:`KBItem`: ``len(source)`` items, ``source.item(i)``
the ``i``-th, and a stable ``source_id``, so a killed build resumes at the first item it had not committed.

Example:
    >>> source = ToyEntitySource(views_per_entity=2, entities=["zorvik"])
    >>> len(source), source.item(0).text, source.item(0).meta["bucket"]
    (2, 'a zorvik emblem at the bottom', 'frequent')
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from toyworld.entities import entity_bucket
from toyworld.vocab import ENTITY_NAMES
from toyworld.world import ShapesWorld
from workbench.io import load_image

from .entity_scenes import emblem_view

__all__ = [
    "IMAGE_SUFFIXES",
    "FolderSource",
    "KBItem",
    "Source",
    "SourceError",
    "TableSource",
    "ToyEntitySource",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


class SourceError(ValueError):
    """A source cannot be read (missing folder, missing captions, unknown columns)."""


@dataclass
class KBItem:
    """One (image, text) pair to add to a knowledge base.

    Args:
        text: the caption.
        image (`torch.Tensor` of shape `(3, H, W)`, optional): pixels in [0, 1]; or give ``path``.
        path: an image file, read when the item is embedded.
        meta: JSON-able metadata kept with the entry (and usable as a search filter).
    """

    text: str
    image: torch.Tensor | None = None
    path: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def load_image(self) -> torch.Tensor:
        """The pixels, `(3, H, W)` float in [0, 1]."""
        if self.image is not None:
            return self.image
        if self.path is None:
            raise SourceError(f"item {self.text!r} has neither pixels nor an image path")
        return load_image(self.path)


class Source(Protocol):
    source_id: str

    def __len__(self) -> int: ...
    def item(self, index: int) -> KBItem: ...


# ---------------------------------------------------------------------------------------------- folder
def _metadata_captions(folder: Path) -> dict[str, str]:
    """``file_name -> text`` from a Hugging Face imagefolder ``metadata.jsonl`` / ``metadata.csv``."""
    captions: dict[str, str] = {}
    jsonl, table = folder / "metadata.jsonl", folder / "metadata.csv"
    if jsonl.is_file():
        for n, line in enumerate(jsonl.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if "file_name" not in row or "text" not in row:
                raise SourceError(
                    f"{jsonl}:{n}: each line needs 'file_name' and 'text', got keys {sorted(row)}"
                )
            captions[str(row["file_name"])] = str(row["text"])
    elif table.is_file():
        with open(table, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if "file_name" not in row or "text" not in row:
                    raise SourceError(f"{table}: needs columns 'file_name' and 'text', got {sorted(row)}")
                captions[row["file_name"]] = row["text"]
    return captions


class FolderSource:
    """Images under a folder (recursively, sorted by relative path) with their captions.

    A caption is read from ``<image stem>.txt`` beside the image, else from the folder's ``metadata.jsonl``
    / ``metadata.csv`` (Hugging Face imagefolder layout: ``file_name`` and ``text``).

    Raises:
        SourceError: the folder does not exist, holds no image, or an image has no caption.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser().resolve()
        if not self.folder.is_dir():
            raise SourceError(f"image folder {str(self.folder)!r} does not exist")
        self.files = sorted(
            p for p in self.folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not self.files:
            raise SourceError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {str(self.folder)!r}")
        self.captions = _metadata_captions(self.folder)
        self.source_id = f"folder:{self.folder}"

    def __len__(self) -> int:
        return len(self.files)

    def item(self, index: int) -> KBItem:
        path = self.files[index]
        rel = path.relative_to(self.folder).as_posix()
        sidecar = path.with_suffix(".txt")
        if sidecar.is_file():
            text = sidecar.read_text(encoding="utf-8").strip()
        elif rel in self.captions:
            text = self.captions[rel]
        else:
            raise SourceError(
                f"image {rel!r} has no caption: write it to {sidecar.name!r} beside the image, or add a "
                f"'file_name,text' row to {str(self.folder / 'metadata.csv')!r}"
            )
        return KBItem(text=text, path=str(path), meta={"file": rel})


# ---------------------------------------------------------------------------------------------- table
class TableSource:
    """Rows of a CSV or parquet table: an image path column and a text column; other columns become
    metadata. Relative paths are resolved against the table's folder.

    Args:
        path: a ``.csv`` or ``.parquet`` file (parquet needs ``pyarrow``).
        image_column, text_column: the column names.

    Raises:
        SourceError: unreadable file or missing columns.
    """

    def __init__(self, path: str | Path, image_column: str = "image", text_column: str = "text") -> None:
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_file():
            raise SourceError(f"table {str(self.path)!r} does not exist")
        self.rows = self._read()
        for column in (image_column, text_column):
            if self.rows and column not in self.rows[0]:
                raise SourceError(
                    f"table {str(self.path)!r} has no column {column!r}; its columns: {', '.join(self.rows[0])}"
                )
        self.image_column, self.text_column = image_column, text_column
        self.source_id = f"table:{self.path}:{image_column}:{text_column}"

    def _read(self) -> list[dict[str, Any]]:
        suffix = self.path.suffix.lower()
        if suffix == ".csv":
            with open(self.path, newline="", encoding="utf-8") as fh:
                return list(csv.DictReader(fh))
        if suffix == ".parquet":
            try:
                import pandas as pd

                frame = pd.read_parquet(self.path)
            except ImportError as exc:
                raise SourceError(
                    f"reading {self.path.name!r} needs pandas with pyarrow (pip install pyarrow), or convert it to CSV"
                ) from exc
            return frame.to_dict(orient="records")
        raise SourceError(f"table {str(self.path)!r}: unsupported extension {suffix!r}; use .csv or .parquet")

    def __len__(self) -> int:
        return len(self.rows)

    def item(self, index: int) -> KBItem:
        row = self.rows[index]
        image = Path(str(row[self.image_column])).expanduser()
        if not image.is_absolute():
            image = self.path.parent / image
        meta = {k: _jsonable(v) for k, v in row.items() if k not in (self.image_column, self.text_column)}
        return KBItem(text=str(row[self.text_column]), path=str(image), meta=meta)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


# ---------------------------------------------------------------------------------------------- toy world
class ToyEntitySource:
    """The toy world's entity catalogue: ``views_per_entity`` rendered views of each named entity, alone in a
    scene at a seeded grid cell, captioned as the world captions it (``"a zorvik emblem on the left"``).

    Metadata: ``entity``, ``bucket`` (frequent / rare / unseen), ``view`` and ``box`` (normalised xyxy of
    the emblem).

    Args:
        views_per_entity: views of each entity.
        seed: the catalogue seed (views are ``rng([seed, entity index, view])``).
        image_size: rendered side in pixels.
        entities: a subset of entity names (default: every entity of every bucket).
    """

    def __init__(
        self,
        views_per_entity: int = 8,
        seed: int = 0,
        image_size: int = 64,
        entities: Sequence[str] | None = None,
    ) -> None:
        if views_per_entity < 1:
            raise SourceError(f"views_per_entity must be >= 1, got {views_per_entity}")
        self.entities = list(entities) if entities is not None else list(ENTITY_NAMES)
        unknown = [e for e in self.entities if e not in ENTITY_NAMES]
        if unknown:
            raise SourceError(f"unknown entities {unknown}; known: {', '.join(ENTITY_NAMES)}")
        self.views, self.seed = int(views_per_entity), int(seed)
        self.world = ShapesWorld(image_size)
        names = ",".join(self.entities) if entities is not None else "all"
        self.source_id = (
            f"toy-entities:views={self.views}:seed={self.seed}:size={image_size}:entities={names}"
        )

    def __len__(self) -> int:
        return len(self.entities) * self.views

    def scene(self, index: int):
        """The :class:`~toyworld.scene.Scene` of item ``index``."""
        name, view = self.entities[index // self.views], index % self.views
        return emblem_view(
            np.random.default_rng([self.seed, ENTITY_NAMES.index(name), view]), name, seed=index
        )

    def item(self, index: int) -> KBItem:
        if not 0 <= index < len(self):
            raise IndexError(f"item {index} out of range for {len(self)} catalogue views")
        scene = self.scene(index)
        obj = scene.objects[0]
        image = self.world.render([scene]).images[0]  # (3, S, S)
        meta = {
            "entity": obj.entity,
            "bucket": entity_bucket(obj.entity),
            "view": index % self.views,
            "box": [round(float(v), 6) for v in obj.box],
        }
        return KBItem(text=scene.caption(), image=image, meta=meta)
