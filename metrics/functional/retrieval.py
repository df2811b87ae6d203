"""Retrieval metrics over a score matrix: recall@k and (mean) average precision."""

from __future__ import annotations

import torch


def _check(scores: torch.Tensor, relevance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s = torch.as_tensor(scores, dtype=torch.float64)
    rel = torch.as_tensor(relevance).bool()
    if s.ndim != 2 or s.shape != rel.shape:
        raise ValueError(
            f"scores and relevance must both be (Q, N), got {tuple(s.shape)} and {tuple(rel.shape)}"
        )
    if not bool(torch.isfinite(s).all()):
        raise ValueError("scores contain NaN or infinite values")
    return s, rel


def _ranked(s: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
    # Stable descending sort: among equal scores, lower index first.
    order = torch.sort(s, dim=1, descending=True, stable=True).indices
    return torch.gather(rel, 1, order)  # (Q, N) relevance in rank order


def recall_at_k(scores: torch.Tensor, relevance: torch.Tensor, k: int, mode: str = "hit") -> torch.Tensor:
    """Per query, recall at ``k``.

    Args:
        scores (`torch.Tensor` of shape `(Q, N)`): query-to-item similarity, higher is better.
        relevance (`torch.Tensor` of shape `(Q, N)`, bool): relevant items per query (>= 1 each).
        k: cut-off (>= 1).
        mode: ``"hit"``: 1 if any relevant item is in the top k (the R@k of image-text retrieval);
            ``"fraction"``: relevant items in the top k / all relevant items (torchmetrics' RetrievalRecall).

    Returns:
        `torch.Tensor` of shape `(Q,)`, float64 in [0, 1].
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    s, rel = _check(scores, relevance)
    n_rel = rel.sum(dim=1)
    if bool((n_rel == 0).any()):
        raise ValueError(f"queries {torch.nonzero(n_rel == 0).flatten().tolist()[:8]} have no relevant item")
    top = _ranked(s, rel)[:, :k].sum(dim=1).to(torch.float64)  # (Q,)
    if mode == "hit":
        return (top > 0).to(torch.float64)
    if mode == "fraction":
        return top / n_rel
    raise ValueError(f"mode must be 'hit' or 'fraction', got {mode!r}")


def average_precision(scores: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """Per query, average precision: the mean over relevant items of the precision at their rank.

    Returns:
        `torch.Tensor` of shape `(Q,)`, float64 in [0, 1]; queries without a relevant item raise.
    """
    s, rel = _check(scores, relevance)
    n_rel = rel.sum(dim=1)
    if bool((n_rel == 0).any()):
        raise ValueError(f"queries {torch.nonzero(n_rel == 0).flatten().tolist()[:8]} have no relevant item")
    ranked = _ranked(s, rel).to(torch.float64)  # (Q, N)
    hits = torch.cumsum(ranked, dim=1)
    ranks = torch.arange(1, s.shape[1] + 1, dtype=torch.float64)
    precision = hits / ranks  # (Q, N)
    return (precision * ranked).sum(dim=1) / n_rel


def mean_average_precision(scores: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """mAP: the mean of :func:`average_precision` over queries (scalar float64)."""
    return average_precision(scores, relevance).mean()
