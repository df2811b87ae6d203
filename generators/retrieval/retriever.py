"""From prompts to the neighbours a retrieval-augmented pipeline conditions on.

:func:`retrieve` searches a :class:`~generators.retrieval.knowledge_base.KnowledgeBase` for each prompt
(text-to-image or text-to-text, top ``k``, optional metadata filters) and packs what the pipeline needs:
the neighbours' images, their CLIP image and text embeddings, captions, scores and entity boxes.

Example:
    >>> import tempfile
    >>> from workbench.dummy import dummy_clip
    >>> from generators.retrieval import ClipEmbedder, KnowledgeBase, ToyEntitySource, retrieve
    >>> kb = KnowledgeBase.build(tempfile.mkdtemp(), ToyEntitySource(2, entities=["zorvik"]), ClipEmbedder(*dummy_clip()))
    >>> n = retrieve(kb, ["a zorvik emblem on the left"], k=2)[0]
    >>> tuple(n.images.shape), tuple(n.image_embeds.shape)
    ((2, 3, 64, 64), (2, 16))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from generators.retrieval.knowledge_base import KnowledgeBase, SearchHit

__all__ = ["RetrievedNeighbours", "retrieve"]


@dataclass
class RetrievedNeighbours:
    """The ``k`` neighbours of one prompt.

    Args:
        images (`torch.Tensor` of shape `(k, 3, H, W)`): in [0, 1].
        image_embeds, text_embeds (`torch.Tensor` of shape `(k, D)`): unit-norm CLIP embeddings.
        texts: the ``k`` captions.
        scores (`torch.Tensor` of shape `(k,)`): query-neighbour cosine (BM25 score for ``"bm25"``).
        ids: the entries' rows in the base.
        boxes: per neighbour, the normalised xyxy box of its subject (``meta["box"]``) or ``None``.
        meta: per neighbour, its metadata.
    """

    images: torch.Tensor
    image_embeds: torch.Tensor
    text_embeds: torch.Tensor
    texts: list[str]
    scores: torch.Tensor
    ids: list[int] = field(default_factory=list)
    boxes: list[tuple[float, float, float, float] | None] = field(default_factory=list)
    meta: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def __post_init__(self) -> None:
        k = len(self.texts)
        if not (self.images.shape[0] == self.image_embeds.shape[0] == self.text_embeds.shape[0] == k):
            raise ValueError(
                f"neighbours disagree on k: images {tuple(self.images.shape)}, image_embeds "
                f"{tuple(self.image_embeds.shape)}, text_embeds {tuple(self.text_embeds.shape)}, {k} texts"
            )
        if self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(f"neighbour images must have shape (k, 3, H, W), got {tuple(self.images.shape)}")

    @classmethod
    def from_hits(cls, kb: KnowledgeBase, hits: Sequence[SearchHit]) -> RetrievedNeighbours:
        """Pack search hits of ``kb`` (images of one size: the base's, resized to the first otherwise)."""
        if not hits:
            raise ValueError(
                "no neighbours: the search returned nothing (empty base, or filters match nothing)"
            )
        ids = [h.id for h in hits]
        images = kb.images(ids)
        size = images[0].shape[-2:]
        images = [
            im if im.shape[-2:] == size
            else torch.nn.functional.interpolate(im[None], size=tuple(size), mode="bilinear", antialias=True)[0]
            for im in images
        ]  # fmt: skip
        boxes = [tuple(h.meta["box"]) if isinstance(h.meta.get("box"), (list, tuple)) else None for h in hits]
        return cls(
            images=torch.stack(images).clamp(0, 1),  # (k, 3, H, W)
            image_embeds=kb.image_emb[ids].clone(),  # (k, D)
            text_embeds=kb.text_emb[ids].clone(),  # (k, D)
            texts=[h.text for h in hits],
            scores=torch.tensor([h.score for h in hits]),
            ids=ids,
            boxes=boxes,
            meta=[dict(h.meta) for h in hits],
        )


def retrieve(
    kb: KnowledgeBase,
    prompts: str | Sequence[str],
    k: int = 4,
    target: Literal["image", "text", "bm25"] = "text",
    filters: dict[str, Any] | None = None,
) -> list[RetrievedNeighbours]:
    """The ``k`` neighbours of each prompt in ``kb``.

    Args:
        kb: an open knowledge base with its CLIP (``embedder``).
        prompts: one prompt or a list.
        k: neighbours per prompt.
        target: ``"text"`` (text-to-text: the prompt against the entries' captions, the default: an entity's
            name finds its entries), ``"bm25"`` (text-to-text by the words: a name the CLIP text encoder tells
            apart poorly still finds its entries) or ``"image"`` (text-to-image: the prompt against the entries'
            images).
        filters: metadata filters (see :meth:`KnowledgeBase.mask`).

    Returns:
        One :class:`RetrievedNeighbours` per prompt.
    """
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    return [
        RetrievedNeighbours.from_hits(kb, hits)
        for hits in kb.search(prompts, k=k, target=target, filters=filters)
    ]
