"""Detection quality from scores: thresholds at a fixed false-positive rate, TPR there, ROC AUC.

Convention: a higher score means "more likely watermarked" and an image is flagged when its score is
strictly greater than the threshold.
"""

from __future__ import annotations

import math

import torch


def _scores(x: torch.Tensor | list, name: str) -> torch.Tensor:
    t = torch.as_tensor(x, dtype=torch.float64).reshape(-1).cpu()
    if t.numel() == 0:
        raise ValueError(f"{name} is empty")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return t


def threshold_at_fpr(null_scores: torch.Tensor, fpr: float) -> tuple[float, float]:
    """The lowest threshold whose empirical false-positive rate on ``null_scores`` is <= ``fpr``.

    Args:
        null_scores (`torch.Tensor` of shape `(N,)`): scores of unwatermarked (null) images.
        fpr: target false-positive rate in (0, 1).

    Returns:
        ``(threshold, achieved_fpr)``: flag ``score > threshold``; ``achieved_fpr <= fpr``. With fewer
        than ``1 / fpr`` null images the achieved rate is 0 and the threshold is the null maximum.
    """
    if not 0 < fpr < 1:
        raise ValueError(f"fpr must lie in (0, 1), got {fpr}")
    null = torch.sort(_scores(null_scores, "null_scores"), descending=True).values
    n = null.numel()
    allowed = math.floor(fpr * n + 1e-9)  # false positives allowed
    threshold = float(null[min(allowed, n - 1)])
    achieved = float((null > threshold).sum()) / n
    return threshold, achieved


def tpr_at_fpr(null_scores: torch.Tensor, positive_scores: torch.Tensor, fpr: float) -> dict[str, float]:
    """True-positive rate at the threshold chosen on the empirical null for ``fpr``.

    Returns:
        ``{"tpr", "threshold", "achieved_fpr", "n_null", "n_positive", "fpr_resolution"}`` where
        ``fpr_resolution = 1 / n_null`` (a target below it cannot be measured).
    """
    threshold, achieved = threshold_at_fpr(null_scores, fpr)
    pos = _scores(positive_scores, "positive_scores")
    n_null = torch.as_tensor(null_scores).numel()
    return {
        "tpr": float((pos > threshold).double().mean()),
        "threshold": threshold,
        "achieved_fpr": achieved,
        "n_null": n_null,
        "n_positive": pos.numel(),
        "fpr_resolution": 1.0 / n_null,
    }


def roc_auc(null_scores: torch.Tensor, positive_scores: torch.Tensor) -> float:
    """Area under the ROC curve: P(positive score > null score) + 0.5 P(tie) (Mann-Whitney U)."""
    neg, pos = _scores(null_scores, "null_scores"), _scores(positive_scores, "positive_scores")
    allv = torch.cat([neg, pos])
    # Average ranks (ties share their mean rank).
    order = torch.argsort(allv, stable=True)
    sorted_v = allv[order]
    ranks = torch.empty_like(allv)
    ranks[order] = torch.arange(1, allv.numel() + 1, dtype=torch.float64)
    uniq, inverse, counts = torch.unique(sorted_v, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).to(torch.float64)
    mean_rank = ends - (counts.to(torch.float64) - 1) / 2
    ranks[order] = mean_rank[inverse]
    n_pos, n_neg = pos.numel(), neg.numel()
    u = ranks[neg.numel() :].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))
