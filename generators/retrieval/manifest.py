"""The manifest of a knowledge base (``manifest.json``): which CLIP made its embeddings, its committed
chunks, per-source progress (a killed build resumes from it), de-duplication and index settings.

The manifest is rewritten atomically after each committed chunk: a reader (or a resumed build) sees the
base as it was after the last complete chunk, never half of one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from generators.retrieval.index import IndexSettings
from workbench.io import atomic_write_json

__all__ = [
    "FORMAT",
    "MANIFEST_FILE",
    "ChunkRecord",
    "DedupSettings",
    "EmbedderRecord",
    "ForeignEmbedderError",
    "KnowledgeBaseError",
    "Manifest",
    "SourceProgress",
    "check_embedder",
    "read_manifest",
    "write_manifest",
]

FORMAT = "workbench-kb/1"
MANIFEST_FILE = "manifest.json"
PROBE_MATCH = 0.995  # cosine of the probe embeddings above which two CLIPs count as the same model


class KnowledgeBaseError(RuntimeError):
    """A knowledge base folder is missing, incomplete or not a knowledge base."""


class ForeignEmbedderError(KnowledgeBaseError):
    """The knowledge base's embeddings were made by another CLIP model than the one given."""


class EmbedderRecord(BaseModel):
    """The CLIP that made the embeddings: name, weights fingerprint, dimension, probe embeddings."""

    model_config = ConfigDict(extra="forbid")

    name: str
    fingerprint: str
    dim: int
    probe: dict[str, list[float]]


class ChunkRecord(BaseModel):
    """One committed chunk: ``chunks/<name>.safetensors`` + ``chunks/<name>.json``, ``count`` entries."""

    model_config = ConfigDict(extra="forbid")

    name: str
    count: int
    source: str


class SourceProgress(BaseModel):
    """How far a source has been added: items ``< next_index`` are committed (or skipped as duplicates)."""

    model_config = ConfigDict(extra="forbid")

    next_index: int = 0
    total: int = 0
    done: bool = False
    added: int = 0
    skipped_exact: int = 0
    skipped_near: int = 0


class DedupSettings(BaseModel):
    """De-duplication of entries.

    Args:
        exact: skip an entry whose pixels (8-bit) and text equal an existing entry's (content hash).
        near_duplicate: skip an entry whose image embedding *and* text embedding both have cosine at least
            this with one existing entry (``None``: off). 0.995 catches re-encoded or resized copies with
            the same caption; a random-weight CLIP maps every image close together, so lower values would
            drop distinct images there.
    """

    model_config = ConfigDict(extra="forbid")

    exact: bool = True
    near_duplicate: float | None = Field(default=0.995, gt=0.0, le=1.0)


class Manifest(BaseModel):
    """``manifest.json`` of a knowledge base."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["workbench-kb/1"] = FORMAT
    embedder: EmbedderRecord
    count: int = 0
    chunks: list[ChunkRecord] = []
    sources: dict[str, SourceProgress] = {}
    dedup: DedupSettings = DedupSettings()
    index: IndexSettings = IndexSettings()
    store_images: bool = True


def read_manifest(folder: str | Path) -> Manifest:
    """Read and validate ``folder/manifest.json``.

    Raises:
        KnowledgeBaseError: no manifest, or an unreadable / invalid one.
    """
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise KnowledgeBaseError(
            f"{str(folder)!r} is not a knowledge base (no {MANIFEST_FILE}); create one with "
            "`workbench kb build FOLDER --toy-entities` (or --from-folder / --from-table)"
        )
    try:
        return Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, json.JSONDecodeError) as exc:
        raise KnowledgeBaseError(f"{str(path)!r} is not a valid knowledge-base manifest: {exc}") from exc


def write_manifest(folder: str | Path, manifest: Manifest) -> Path:
    """Write ``folder/manifest.json`` atomically."""
    return atomic_write_json(Path(folder) / MANIFEST_FILE, manifest.model_dump(mode="json"))


def _cos(a: list[float], b: list[float]) -> float:
    if len(a) != len(b):
        return -1.0
    return float(F.cosine_similarity(torch.tensor(a)[None], torch.tensor(b)[None]).item())


def check_embedder(record: EmbedderRecord, embedder, folder: str | Path) -> str:
    """Refuse an embedder that is not the CLIP that made the base.

    The same weights fingerprint passes at once; otherwise the probe embeddings must match (cosine at least
    0.995 for both the image and the text probe: the same model loaded in another precision).

    Returns:
        ``"fingerprint"`` or ``"probe"``: how the match was established.

    Raises:
        ForeignEmbedderError: the dimension differs or the probes do not match.
    """
    if embedder.dim != record.dim:
        raise ForeignEmbedderError(
            _foreign_message(record, embedder, folder, f"dimension {embedder.dim} != {record.dim}")
        )
    if embedder.fingerprint == record.fingerprint:
        return "fingerprint"
    probe = embedder.probe()
    image_cos, text_cos = (
        _cos(probe["image"], record.probe["image"]),
        _cos(probe["text"], record.probe["text"]),
    )
    if image_cos >= PROBE_MATCH and text_cos >= PROBE_MATCH:
        return "probe"
    raise ForeignEmbedderError(
        _foreign_message(record, embedder, folder, f"probe cosine image {image_cos:.3f}, text {text_cos:.3f}")
    )


def _foreign_message(record: EmbedderRecord, embedder, folder: str | Path, detail: str) -> str:
    return (
        f"knowledge base {str(folder)!r} was embedded with CLIP {record.name!r} (weights {record.fingerprint[:12]}), "
        f"but the CLIP given is {embedder.name!r} (weights {embedder.fingerprint[:12]}; {detail}): its embeddings "
        f"are not comparable. Open the base with the CLIP {record.name!r}, or rebuild it with this CLIP "
        f"(`workbench kb build NEW_FOLDER --clip {embedder.name} ...`)"
    )
