"""Adversarial image metrics: CLIPMasterPrints' fooling accuracy and the adversarial image's rank."""

from __future__ import annotations

import torch


def _check(master_scores: torch.Tensor, real_scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    m = torch.as_tensor(master_scores, dtype=torch.float64).reshape(-1)
    r = torch.as_tensor(real_scores, dtype=torch.float64)
    if r.ndim != 2 or r.shape[0] != m.shape[0]:
        raise ValueError(
            f"real_scores must be (P, N) with one row per prompt, got {tuple(r.shape)} for {m.shape[0]} prompts"
        )
    if not (bool(torch.isfinite(m).all()) and bool(torch.isfinite(r).all())):
        raise ValueError("scores contain NaN or infinite values")
    return m, r


def fooling_accuracy(
    master_scores: torch.Tensor, real_scores: torch.Tensor, real_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Per prompt, the fraction of real images of the prompt's class whose score is below the master
    image's score for that prompt (CLIPMasterPrints' fooling accuracy, before averaging over prompts).

    Args:
        master_scores (`torch.Tensor` of shape `(P,)`): the master image's score for each prompt.
        real_scores (`torch.Tensor` of shape `(P, N)`): each prompt's score for N real images.
        real_mask (`torch.Tensor` of shape `(P, N)`, bool): which real images belong to the prompt's
            class (default: all of them); every row needs at least one.

    Returns:
        `torch.Tensor` of shape `(P,)`, float64 in [0, 1].
    """
    m, r = _check(master_scores, real_scores)
    mask = (
        torch.ones_like(r, dtype=torch.bool)
        if real_mask is None
        else torch.as_tensor(real_mask, dtype=torch.bool)
    )
    if mask.shape != r.shape:
        raise ValueError(f"real_mask shape {tuple(mask.shape)} does not match real_scores {tuple(r.shape)}")
    counts = mask.sum(dim=1)
    if bool((counts == 0).any()):
        raise ValueError(
            f"prompts {torch.nonzero(counts == 0).flatten().tolist()} have no real images of their class"
        )
    below = (r < m[:, None]) & mask  # (P, N)
    return below.sum(dim=1).to(torch.float64) / counts


def adversarial_rank(
    master_scores: torch.Tensor, real_scores: torch.Tensor, real_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Per prompt, the 1-based rank of the master image among itself and the real images (of the
    prompt's class, with ``real_mask``) sorted by decreasing score (1: it beats every real image;
    ties count against it).

    Returns:
        `torch.Tensor` of shape `(P,)`, int64 in [1, N + 1].
    """
    m, r = _check(master_scores, real_scores)
    above = r >= m[:, None]  # (P, N)
    if real_mask is not None:
        above = above & torch.as_tensor(real_mask, dtype=torch.bool)
    return 1 + above.sum(dim=1)
