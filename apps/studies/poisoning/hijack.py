"""Hijack rate and clean recall of text-to-image retrieval over a base with master images inserted.

Everything here works on embeddings (unit vectors, cosine = dot product), the same exact search the
knowledge base runs (:class:`generators.retrieval.index.ExactIndex`), so one seed's whole table
(budgets x counts x defences) costs a few matrix products. A test checks it against
:meth:`KnowledgeBase.search` on a base the master images were really inserted into.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .queries import Query

__all__ = ["modality_gap", "relevance", "retrieval_outcome", "shift_embeddings"]


def relevance(queries: Sequence[Query], entries: Sequence[dict[str, Any]]) -> torch.Tensor:
    """`(Q, N)` bool: entry ``n`` shows what query ``q`` asks for (its entity, or an object of its class)."""
    out = torch.zeros(len(queries), len(entries), dtype=torch.bool)
    entity = [e["meta"].get("entity") for e in entries]
    classes = [set(e["meta"].get("classes", ())) for e in entries]
    for i, q in enumerate(queries):
        if q.kind == "entity":
            out[i] = torch.tensor([name == q.target for name in entity], dtype=torch.bool)
        else:
            out[i] = torch.tensor([q.target in c for c in classes], dtype=torch.bool)
    return out


@torch.no_grad()
def retrieval_outcome(
    query_emb: torch.Tensor,
    base_emb: torch.Tensor,
    master_emb: torch.Tensor,
    relevant: torch.Tensor,
    k: int,
    keep_base: torch.Tensor | None = None,
    keep_master: torch.Tensor | None = None,
    window: int | None = None,
) -> dict[str, float]:
    """Hijack rates and recall of text-to-image retrieval over ``base + masters``.

    Args:
        query_emb (`torch.Tensor` of shape `(Q, D)`): unit text embeddings.
        base_emb (`torch.Tensor` of shape `(N, D)`): unit image embeddings of the clean entries.
        master_emb (`torch.Tensor` of shape `(M, D)`): unit image embeddings of the inserted master images
            (``M = 0``: the clean base).
        relevant (`torch.Tensor` of shape `(Q, N)`, bool): :func:`relevance`.
        k: neighbours per query.
        keep_base (`(N,)` bool, optional): clean entries left in the index (a defence removed the others).
        keep_master (`(M,)` bool, optional): master images left in the index.
        window: ``None``: the masks act at insertion (removed entries are not in the index). An int: they
            act at query time, on the unfiltered index's top ``window`` results of each query (the flagged
            ones are dropped, the first ``k`` others returned; fewer when the window runs out).

    Returns:
        ``hijack_top1`` (share of queries whose first neighbour is a master image), ``hijack_topk`` (whose
        ``k`` neighbours include one), ``recall_at_1`` / ``recall_at_k`` (whose first / ``k`` neighbours
        include a relevant clean entry) and ``base_kept`` (share of clean entries indexed).
    """
    n, m = base_emb.shape[0], master_emb.shape[0]
    keep_base = torch.ones(n, dtype=torch.bool) if keep_base is None else keep_base.bool()
    keep_master = torch.ones(m, dtype=torch.bool) if keep_master is None else keep_master.bool()
    gallery = torch.cat([base_emb, master_emb]).float()  # (N + M, D)
    keep = torch.cat([keep_base, keep_master])  # (N + M,)
    scores = query_emb.float() @ gallery.T  # (Q, N + M)
    rel = torch.cat([relevant, torch.zeros(relevant.shape[0], m, dtype=torch.bool)], dim=1)  # (Q, N + M)
    if window is None:
        scores = scores.masked_fill(~keep[None], float("-inf"))
        kk = min(k, int(keep.sum()))
        if kk == 0:
            raise ValueError("every entry was removed from the index; nothing to retrieve")
        top = scores.topk(kk, dim=1).indices  # (Q, kk)
        valid = torch.ones_like(top, dtype=torch.bool)  # (Q, kk)
    else:
        if window < k:
            raise ValueError(f"the query-time window ({window}) must hold at least k = {k} results")
        cand = scores.topk(min(window, n + m), dim=1).indices  # (Q, W)
        ok = keep[cand]  # (Q, W)
        rank = ok.cumsum(dim=1)  # (Q, W): how many accepted results up to here
        order = torch.where(ok, rank, torch.full_like(rank, cand.shape[1] + 1)).argsort(dim=1, stable=True)
        top = cand.gather(1, order)[:, :k]  # (Q, k): accepted results first, in rank order
        valid = ok.gather(1, order)[:, :k]  # (Q, k): False where the window ran out
    is_master = (top >= n) & valid  # (Q, k)
    hit = rel.gather(1, top) & valid  # (Q, k)
    return {
        "hijack_top1": float(is_master[:, 0].double().mean()),
        "hijack_topk": float(is_master.any(dim=1).double().mean()),
        "recall_at_1": float(hit[:, 0].double().mean()),
        "recall_at_k": float(hit.any(dim=1).double().mean()),
        "base_kept": float(keep_base.double().mean()),
    }


def shift_embeddings(
    text_emb: torch.Tensor, image_emb: torch.Tensor, gap: torch.Tensor, shift: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The modality-gap shift in the retriever (as :class:`attacks.masterprints.mitigations.ShiftedScorer`):
    text embeddings move ``+shift * gap``, image embeddings ``-shift * gap``, both renormalised.

    Args:
        text_emb (`(Q, D)`), image_emb (`(N, D)`): unit embeddings.
        gap (`(D,)`): mean image embedding minus mean text embedding (:func:`modality_gap`).
    """
    offset = shift * gap.float()
    return F.normalize(text_emb.float() + offset, dim=-1), F.normalize(image_emb.float() - offset, dim=-1)


def modality_gap(text_emb: torch.Tensor, image_emb: torch.Tensor) -> torch.Tensor:
    """`(D,)` the gap ``mean(image embeddings) - mean(text embeddings)`` of a base and a query pool."""
    return image_emb.float().mean(dim=0) - text_emb.float().mean(dim=0)
