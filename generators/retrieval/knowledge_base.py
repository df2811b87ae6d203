"""A multimodal knowledge base of (image, text) pairs with CLIP image and text embeddings on disk.

Layout of a base folder::

    manifest.json                 the CLIP (name, weights fingerprint, probes), chunks, source progress
    chunks/000000.safetensors     image_emb (n, D), text_emb (n, D): float32, unit norm
    chunks/000000.json            the n entries: id, text, image (file), content hash, metadata, source
    images/ab/<sha256>.png        the stored images (content-addressed)
    index/<target>-<kind>.faiss   a cached FAISS index (rebuilt when stale)

Entries are added in chunks; each chunk is written atomically and then committed by rewriting the
manifest, so a build killed at any point resumes at the first item it had not committed
(:meth:`KnowledgeBase.build` and :meth:`KnowledgeBase.add` pick up where the manifest says). Duplicates are
skipped by content hash and by near-duplicate embeddings (see :mod:`generators.retrieval.dedup`).

Given a ``runtime`` (``accelerate launch --num_processes N``), each chunk's items are loaded and embedded
in fixed blocks shared among the processes (:mod:`generators.retrieval.chunk_embedding`); every process
then takes the same de-duplication decisions, each stores the images it loaded, and the main process
writes the chunk and the manifest: the base holds the same bytes as one built by one process.

Example:
    >>> import tempfile
    >>> from workbench.dummy import dummy_clip
    >>> from generators.retrieval import ClipEmbedder, KnowledgeBase, ToyEntitySource
    >>> embedder = ClipEmbedder(*dummy_clip(), name="dummy-clip")
    >>> kb = KnowledgeBase.build(tempfile.mkdtemp(), ToyEntitySource(2, entities=["zorvik", "plimble"]), embedder)
    >>> len(kb), kb.search("a zorvik emblem", k=1, target="text")[0][0].meta["entity"] in ("zorvik", "plimble")
    (4, True)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch

from generators.retrieval.chunk_embedding import embed_chunk
from generators.retrieval.dedup import near_duplicates
from generators.retrieval.embedder import ClipEmbedder
from generators.retrieval.index import ExactIndex, FaissIndex, IndexSettings, build_index
from generators.retrieval.lexical import Bm25Index
from generators.retrieval.manifest import (
    ChunkRecord,
    DedupSettings,
    EmbedderRecord,
    KnowledgeBaseError,
    Manifest,
    SourceProgress,
    check_embedder,
    read_manifest,
    write_manifest,
)
from generators.retrieval.sources import KBItem, Source
from workbench.io import (
    atomic_write_json,
    load_image,
    load_tensors,
    remove_stale_temp_files,
    save_image,
    save_tensors,
)

if TYPE_CHECKING:
    from workbench.runtime import Runtime

logger = logging.getLogger(__name__)

__all__ = ["AddResult", "KnowledgeBase", "SearchHit"]

Target = Literal["image", "text", "bm25"]
CHUNKS_DIR, IMAGES_DIR, INDEX_DIR = "chunks", "images", "index"


@dataclass
class SearchHit:
    """One retrieved entry: its row ``id`` in the base, cosine ``score``, caption, image file and metadata."""

    id: int
    score: float
    text: str
    image: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class AddResult:
    """What one :meth:`KnowledgeBase.add` did: entries added, duplicates skipped, where it started."""

    source: str
    added: int = 0
    skipped_exact: int = 0
    skipped_near: int = 0
    started_at: int = 0
    chunks: int = 0


class KnowledgeBase:
    """A folder of (image, text) entries with CLIP embeddings; exact or FAISS search with filters.

    Use :meth:`create`, :meth:`open` or :meth:`build` rather than the constructor.
    """

    def __init__(self, folder: Path, manifest: Manifest, embedder: ClipEmbedder | None) -> None:
        self.folder = Path(folder)
        self.manifest = manifest
        self.embedder = embedder
        self.entries: list[dict[str, Any]] = []
        dim = manifest.embedder.dim
        self.image_emb, self.text_emb = torch.zeros(0, dim), torch.zeros(0, dim)
        self._hashes: set[str] = set()
        self._indexes: dict[str, ExactIndex | FaissIndex | Bm25Index] = {}
        self.index_settings: IndexSettings = manifest.index  # this session's search settings
        self.runtime: Runtime | None = None  # the processes that share additions (None: this one alone)
        self._load_chunks()

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(
        cls,
        folder: str | Path,
        embedder: ClipEmbedder,
        dedup: DedupSettings | None = None,
        index: IndexSettings | None = None,
        store_images: bool = True,
    ) -> KnowledgeBase:
        """Create an empty base in ``folder`` (which must not hold one already)."""
        folder = Path(folder)
        if (folder / "manifest.json").exists():
            raise KnowledgeBaseError(f"{str(folder)!r} already holds a knowledge base; open it, or add to it")
        record = EmbedderRecord(**embedder.describe())
        manifest = Manifest(
            embedder=record,
            dedup=dedup or DedupSettings(),
            index=index or IndexSettings(),
            store_images=store_images,
        )
        folder.mkdir(parents=True, exist_ok=True)
        write_manifest(folder, manifest)
        logger.info("created knowledge base %s (CLIP %s, D=%d)", folder, record.name, record.dim)
        return cls(folder, manifest, embedder)

    @classmethod
    def open(
        cls, folder: str | Path, embedder: ClipEmbedder | None = None, index: IndexSettings | None = None
    ) -> KnowledgeBase:
        """Open a base; with ``embedder``, check it is the CLIP that made the base.

        Args:
            folder: the base folder.
            embedder: the CLIP for text / image queries and additions (``None``: search by vectors only).
            index: search settings for this session (default: the manifest's; the manifest is not changed).

        Raises:
            KnowledgeBaseError: not a knowledge base.
            ForeignEmbedderError: ``embedder`` is another CLIP than the one that made the base.
        """
        folder = Path(folder)
        manifest = read_manifest(folder)
        if embedder is not None:
            how = check_embedder(manifest.embedder, embedder, folder)
            if how == "probe":
                logger.info(
                    "CLIP %r has other weights bytes than the base's %r but the same embeddings (another precision?)",
                    embedder.name,
                    manifest.embedder.name,
                )
        kb = cls(folder, manifest, embedder)
        if index is not None:
            kb.index_settings = index
        return kb

    @classmethod
    def build(
        cls,
        folder: str | Path,
        source: Source,
        embedder: ClipEmbedder,
        chunk_size: int = 256,
        dedup: DedupSettings | None = None,
        index: IndexSettings | None = None,
        store_images: bool = True,
        progress: Callable[[int, int], None] | None = None,
        runtime: Runtime | None = None,
    ) -> KnowledgeBase:
        """Create a base from ``source``, or resume a killed build of it in ``folder``.

        A folder that holds a base already is opened (its CLIP checked) and the source's unfinished part is
        added; a finished source is not scanned again. With ``runtime``, the embedding is shared among its
        processes (the main process creates the folder and writes the files).
        """
        folder = Path(folder)
        main = runtime is None or runtime.is_main
        resuming = (folder / "manifest.json").exists()
        if runtime is not None:
            runtime.wait()  # every process has looked before the main process creates it
        if main and resuming:
            kb = cls.open(folder, embedder)
            removed = remove_stale_temp_files(folder)
            logger.info(
                "resuming the build of %s (%d unfinished temporary file(s) removed)", folder, len(removed)
            )
        elif main:
            kb = cls.create(folder, embedder, dedup=dedup, index=index, store_images=store_images)
        if runtime is not None:
            runtime.wait()  # the main process has created or cleaned the folder
        if not main:
            kb = cls.open(folder, embedder)
        kb.runtime = runtime
        kb.add(source, chunk_size=chunk_size, rescan=False, progress=progress)
        return kb

    def _load_chunks(self) -> None:
        images, texts = [], []
        for chunk in self.manifest.chunks:
            base = self.folder / CHUNKS_DIR / chunk.name
            try:
                tensors = load_tensors(base.with_suffix(".safetensors"))
                entries = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise KnowledgeBaseError(
                    f"chunk {chunk.name!r} of {str(self.folder)!r} is unreadable: {exc}"
                ) from exc
            if len(entries) != chunk.count or tensors["image_emb"].shape[0] != chunk.count:
                raise KnowledgeBaseError(
                    f"chunk {chunk.name!r} of {str(self.folder)!r} does not hold {chunk.count} entries"
                )
            images.append(tensors["image_emb"])
            texts.append(tensors["text_emb"])
            self.entries.extend(entries)
        if images:
            self.image_emb, self.text_emb = torch.cat(images), torch.cat(texts)  # (N, D) each
        self._hashes = {e["hash"] for e in self.entries}

    # ------------------------------------------------------------------ adding
    def _require_embedder(self, what: str) -> ClipEmbedder:
        if self.embedder is None:
            raise KnowledgeBaseError(f"{what} needs the base's CLIP; open the base with embedder=")
        return self.embedder

    def add(
        self,
        source: Source,
        chunk_size: int = 256,
        rescan: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> AddResult:
        """Add a source's items, chunk by chunk, skipping duplicates (shared among the processes of
        :attr:`runtime`, when set: call it on every process).

        Args:
            source: the items (see :mod:`generators.retrieval.sources`).
            chunk_size: items embedded and committed together.
            rescan: scan a source again that was added completely before (new items are added, the rest
                are exact duplicates); ``False`` returns at once for such a source.
            progress: ``fn(done, total)`` after each chunk.

        Returns:
            :class:`AddResult`.
        """
        embedder = self._require_embedder("adding entries")
        sid = source.source_id
        state = self.manifest.sources.get(sid, SourceProgress())
        if state.done and not rescan:
            return AddResult(source=sid, started_at=len(source))
        start = 0 if state.done else state.next_index
        state = SourceProgress(
            **{**state.model_dump(), "done": False, "next_index": start, "total": len(source)}
        )
        result = AddResult(source=sid, started_at=start)
        if start:
            logger.info("source %s: resuming at item %d of %d", sid, start, len(source))
        for s in range(start, len(source), chunk_size):
            count = min(s + chunk_size, len(source)) - s
            added, exact, near = self._add_chunk(lambda i, s=s: source.item(s + i), count, sid, embedder)
            state.next_index = s + count
            state.added += added
            state.skipped_exact += exact
            state.skipped_near += near
            result.added += added
            result.skipped_exact += exact
            result.skipped_near += near
            result.chunks += 1
            self.manifest.sources[sid] = state
            self._commit()
            if progress is not None and self._is_main:
                progress(state.next_index, len(source))
        state.done = True
        state.next_index = len(source)
        self.manifest.sources[sid] = state
        self._commit()
        if self.runtime is not None:
            self.runtime.wait()  # every file is written when any process returns
        logger.info(
            "source %s: %d added, %d exact and %d near duplicates skipped; %d entries in the base",
            sid, result.added, result.skipped_exact, result.skipped_near, len(self),
        )  # fmt: skip
        return result

    @property
    def _is_main(self) -> bool:
        return self.runtime is None or self.runtime.is_main

    def _commit(self) -> None:
        """Write the manifest (the main process only)."""
        if self._is_main:
            write_manifest(self.folder, self.manifest)

    def _add_chunk(
        self, item: Callable[[int], KBItem], count: int, sid: str, embedder: ClipEmbedder
    ) -> tuple[int, int, int]:
        """Embed, de-duplicate and write one chunk of ``count`` items (not yet committed to the manifest)."""
        dedup = self.manifest.dedup
        rows, pixels = embed_chunk(item, count, embedder, self._hashes if dedup.exact else (), self.runtime)
        keep, exact, seen = [], 0, set(self._hashes)
        for row in rows:
            if dedup.exact and row.hash in seen:
                exact += 1
                continue
            seen.add(row.hash)
            keep.append(row)
        if not keep:
            return 0, exact, 0
        image_emb = torch.stack([r.image_emb for r in keep])  # (n, D)
        text_emb = torch.stack([r.text_emb for r in keep])  # (n, D)
        near = torch.zeros(len(keep), dtype=torch.bool)
        if dedup.near_duplicate is not None:
            near = near_duplicates(image_emb, text_emb, self.image_emb, self.text_emb, dedup.near_duplicate)
        rows_kept = [i for i in range(len(keep)) if not near[i]]
        if not rows_kept:
            return 0, exact, int(near.sum())
        entries = []
        for i in rows_kept:
            r = keep[i]
            image = self._image_ref(r.hash, r.path)
            if r.index in pixels and not (self.folder / image).is_file():
                save_image(self.folder / image, pixels[r.index])  # stored by the process that loaded it
            entries.append(
                {
                    "id": len(self.entries) + len(entries),
                    "text": r.text,
                    "image": image,
                    "hash": r.hash,
                    "source": sid,
                    "meta": r.meta,
                }
            )
        if self.runtime is not None:
            self.runtime.wait()  # every image is stored before the chunk that names it is written
        new_image, new_text = image_emb[rows_kept].contiguous(), text_emb[rows_kept].contiguous()
        name = f"{len(self.manifest.chunks):06d}"
        base = self.folder / CHUNKS_DIR / name
        if self._is_main:
            atomic_write_json(base.with_suffix(".json"), entries)
            save_tensors(base.with_suffix(".safetensors"), {"image_emb": new_image, "text_emb": new_text})
        self.manifest.chunks.append(ChunkRecord(name=name, count=len(entries), source=sid))
        self.manifest.count += len(entries)
        self.entries.extend(entries)
        self.image_emb = torch.cat([self.image_emb, new_image])
        self.text_emb = torch.cat([self.text_emb, new_text])
        self._hashes.update(e["hash"] for e in entries)
        for target, index in self._indexes.items():
            if target == "bm25":
                index.add([e["text"] for e in entries])
            else:
                index.add(new_image if target == "image" else new_text)
        return len(entries), exact, int(near.sum())

    def _image_ref(self, digest: str, path: str | None) -> str:
        """Where an entry's image lives: its own file (``store_images: false`` and a file source), else
        ``images/<ab>/<sha256>.png`` in the base."""
        if not self.manifest.store_images and path is not None:
            return str(Path(path).resolve())
        return f"{IMAGES_DIR}/{digest[:2]}/{digest}.png"

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self.entries)

    def image_path(self, i: int) -> Path:
        path = Path(self.entries[i]["image"])
        return path if path.is_absolute() else self.folder / path

    def image(self, i: int) -> torch.Tensor:
        """Entry ``i``'s image, `(3, H, W)` float in [0, 1]."""
        return load_image(self.image_path(i))

    def images(self, ids: Sequence[int]) -> list[torch.Tensor]:
        return [self.image(int(i)) for i in ids]

    def mask(self, filters: dict[str, Any] | None) -> torch.Tensor | None:
        """The bool mask `(N,)` of entries matching every filter (``None`` without filters).

        A filter ``key: value`` matches ``meta[key] == value`` (or the entry's ``text`` / ``source``); a list
        value matches any of its items.
        """
        if not filters:
            return None
        out = torch.ones(len(self), dtype=torch.bool)
        for key, wanted in filters.items():
            options = set(wanted) if isinstance(wanted, (list, tuple, set)) else {wanted}
            values = [e[key] if key in ("text", "source") else e["meta"].get(key) for e in self.entries]
            out &= torch.tensor([v in options for v in values], dtype=torch.bool)
        return out

    def index(self, target: Target) -> ExactIndex | FaissIndex | Bm25Index:
        """The search index over the ``target`` embeddings (built, or loaded from ``index/``, once), or the
        BM25 index over the captions (``"bm25"``, built in memory)."""
        if target not in ("image", "text", "bm25"):
            raise ValueError(f"target must be 'image', 'text' or 'bm25', got {target!r}")
        if target in self._indexes:
            return self._indexes[target]
        if target == "bm25":
            self._indexes[target] = Bm25Index([e["text"] for e in self.entries])
            return self._indexes[target]
        vectors = self.image_emb if target == "image" else self.text_emb
        settings = self.index_settings
        if settings.kind == "exact":
            index = ExactIndex(vectors)
        else:
            path = self.folder / INDEX_DIR / f"{target}-{settings.kind}.faiss"
            stamp = path.with_suffix(".json")
            expected = {"count": len(self), "settings": settings.model_dump(mode="json")}
            if path.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == expected:
                index = FaissIndex.load(path, settings, vectors.shape[1])
            else:
                logger.info(
                    "building the %s FAISS %s index over %d entries", target, settings.kind, len(self)
                )
                index = build_index(vectors, settings)
                if len(self):
                    index.save(path)
                    atomic_write_json(stamp, expected)
        self._indexes[target] = index
        return index

    def embed_queries(self, queries: str | Sequence[str] | torch.Tensor) -> torch.Tensor:
        """Query vectors `(Q, D)` from captions, images `(Q, 3, H, W)` in [0, 1] or vectors `(Q, D)`."""
        if isinstance(queries, str) or (
            isinstance(queries, Sequence) and not isinstance(queries, torch.Tensor)
        ):
            return self._require_embedder("a text query").embed_texts(
                list([queries] if isinstance(queries, str) else queries)
            )
        if queries.ndim == 4:
            return self._require_embedder("an image query").embed_images(queries)
        return torch.nn.functional.normalize(torch.as_tensor(queries, dtype=torch.float32), dim=-1)

    def search(
        self,
        queries: str | Sequence[str] | torch.Tensor,
        k: int = 5,
        target: Target = "image",
        filters: dict[str, Any] | None = None,
    ) -> list[list[SearchHit]]:
        """The ``k`` nearest entries of each query.

        Args:
            queries: captions (text-to-image or text-to-text retrieval), images `(Q, 3, H, W)` in [0, 1],
                or query vectors `(Q, D)`.
            k: neighbours per query.
            target: compare against the entries' ``"image"`` or ``"text"`` embeddings, or their captions'
                words (``"bm25"``: lexical, captions as queries only; the score is BM25's, not a cosine).
            filters: metadata filters (see :meth:`mask`), e.g. ``{"bucket": ["rare", "unseen"]}``.

        Returns:
            One list of :class:`SearchHit` per query, best first (fewer than ``k`` when fewer entries match).
        """
        if len(self) == 0:
            raise KnowledgeBaseError(f"knowledge base {str(self.folder)!r} is empty; add entries first")
        if target == "bm25":
            if isinstance(queries, torch.Tensor):
                raise ValueError("target 'bm25' searches captions: give text queries, not images or vectors")
            queries = [queries] if isinstance(queries, str) else list(queries)
        else:
            queries = self.embed_queries(queries)  # (Q, D)
        scores, ids = self.index(target).search(queries, k, self.mask(filters))  # (Q, k) each
        return [
            [
                SearchHit(
                    int(i),
                    float(s),
                    self.entries[int(i)]["text"],
                    self.entries[int(i)]["image"],
                    dict(self.entries[int(i)]["meta"]),
                )
                for s, i in zip(row_s.tolist(), row_i.tolist())
            ]
            for row_s, row_i in zip(scores, ids)
        ]

    def describe(self) -> dict[str, Any]:
        """A summary for logs and reports."""
        return {
            "folder": str(self.folder),
            "entries": len(self),
            "clip": self.manifest.embedder.name,
            "fingerprint": self.manifest.embedder.fingerprint[:12],
            "index": self.index_settings.kind,
            "sources": {k: v.model_dump() for k, v in self.manifest.sources.items()},
        }
