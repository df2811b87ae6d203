"""One chunk of a knowledge-base build, read and embedded across the run's processes.

The chunk's items are cut into fixed blocks of the embedder's batch size; each process loads, hashes and
embeds the blocks it owns (:func:`workbench.runs.items.map_batches`), and every process receives every
item's hash, caption, metadata and embeddings in item order. The blocks do not depend on the number of
processes, so a base built by ``accelerate launch --num_processes N`` holds the same bytes as one built by
one process. The pixels stay on the process that loaded them (it stores them, see
:meth:`generators.retrieval.knowledge_base.KnowledgeBase.add`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from generators.retrieval.dedup import content_hash
from generators.retrieval.embedder import ClipEmbedder
from generators.retrieval.sources import KBItem
from workbench.runs.items import map_batches

if TYPE_CHECKING:
    from workbench.runtime import Runtime

__all__ = ["EmbeddedItem", "embed_chunk"]


@dataclass
class EmbeddedItem:
    """One item of a chunk as every process sees it: no pixels, embeddings `(D,)` unless ``known``."""

    index: int
    hash: str
    text: str
    path: str | None
    meta: dict[str, Any] = field(default_factory=dict)
    known: bool = False  # its hash is already in the base: not embedded
    image_emb: torch.Tensor | None = None
    text_emb: torch.Tensor | None = None


def _embed_images(embedder: ClipEmbedder, images: list[torch.Tensor]) -> torch.Tensor:
    if len({tuple(img.shape) for img in images}) == 1:
        return embedder.embed_images(torch.stack(images))  # (n, D)
    return torch.cat([embedder.embed_images(img[None]) for img in images])  # sizes differ: one at a time


def embed_chunk(
    items: Callable[[int], KBItem],
    count: int,
    embedder: ClipEmbedder,
    known_hashes: Collection[str],
    runtime: Runtime | None = None,
) -> tuple[list[EmbeddedItem], dict[int, torch.Tensor]]:
    """Load, hash and embed a chunk of ``count`` items, sharing its blocks among ``runtime``'s processes.

    Args:
        items: ``i -> KBItem`` for ``i`` in ``range(count)`` (called only for this process's items).
        count: items in the chunk.
        embedder: the base's CLIP.
        known_hashes: content hashes already in the base (such items are not embedded).
        runtime: the processes to share the chunk among (``None``: this process does it all).

    Returns:
        every item in order (on every process), and ``{index: (3, H, W) pixels}`` of this process's items.
    """
    pixels: dict[int, torch.Tensor] = {}

    def embed(start: int, stop: int) -> list[EmbeddedItem]:
        out: list[EmbeddedItem] = []
        fresh: list[int] = []
        for i in range(start, stop):
            item = items(i)
            image = item.load_image()  # (3, H, W)
            digest = content_hash(image, item.text)
            known = digest in known_hashes
            out.append(EmbeddedItem(i, digest, item.text, item.path, dict(item.meta), known))
            if not known:
                pixels[i] = image
                fresh.append(len(out) - 1)
        if fresh:
            image_emb = _embed_images(embedder, [pixels[out[j].index] for j in fresh])  # (n, D)
            text_emb = embedder.embed_texts([out[j].text for j in fresh])  # (n, D)
            for row, j in enumerate(fresh):
                out[j].image_emb, out[j].text_emb = image_emb[row].clone(), text_emb[row].clone()
        return out

    return map_batches(runtime, count, embedder.batch_size, embed), pixels
