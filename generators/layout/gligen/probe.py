"""Do the visual tokens entering the GLIGEN fusers know where they are? A linear probe of each token's
(row, column) from its features, fitted on half the images and scored (R^2) on the other half, over all
tokens and over the interior ones (off the grid's border, where zero padding cannot tell them)."""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["fuser_inputs", "position_r2"]


def _r2(pred: torch.Tensor, target: torch.Tensor) -> list[float]:
    ss_res = ((pred - target) ** 2).sum(0)
    ss_tot = ((target - target.mean(0)) ** 2).sum(0)
    return (1 - ss_res / ss_tot).tolist()


def position_r2(tokens: torch.Tensor) -> dict[str, list[float]]:
    """Held-out R^2 of a least-squares probe of (row, col) from visual tokens `(B, N, C)` of a square grid
    (row-major), fitted on the first half of the batch: ``{"all": [r2_row, r2_col], "interior": [...]}``.

    Raises:
        ValueError: fewer than 2 images, a non-square grid, or fewer fitting tokens than channels + 1.
    """
    b, n, c = tokens.shape
    side = math.isqrt(n)
    if b < 2 or side * side != n or side < 3:
        raise ValueError(f"need >= 2 images of a square grid of side >= 3, got {tuple(tokens.shape)}")
    half = b // 2
    if half * n <= c + 1:
        raise ValueError(f"{half * n} fitting tokens for {c + 1} unknowns: give more images")
    idx = torch.arange(side, dtype=torch.float32)
    rc = torch.stack(torch.meshgrid(idx, idx, indexing="ij"), -1).reshape(n, 2)  # (N, 2)
    x = torch.cat([tokens.float(), torch.ones(b, n, 1)], -1)  # (B, N, C + 1)
    fit = torch.linalg.lstsq(x[:half].reshape(-1, c + 1), rc.repeat(half, 1), driver="gelsd").solution
    pred = (x[half:] @ fit).reshape(-1, 2)  # (rest * N, 2)
    target = rc.repeat(b - half, 1)
    inner = ((rc > 0) & (rc < side - 1)).all(-1).repeat(b - half)
    return {"all": _r2(pred, target), "interior": _r2(pred[inner], target[inner])}


@torch.no_grad()
def fuser_inputs(trainer: Any, n_batches: int = 4) -> dict[str, torch.Tensor]:
    """The visual tokens `(B, N, C)` entering each fuser of ``trainer.unet`` on held-out scenes, noised as
    in training (timesteps ``[trainer.min_timestep, T)``), by fuser name."""
    from toyworld.train.data import step_generator

    feats: dict[str, list[torch.Tensor]] = {}
    hooks = [
        m.register_forward_pre_hook(lambda mod, args, name=name: feats.setdefault(name, []).append(args[0]))
        for name, m in trainer.unet.named_modules()
        if name.endswith(".fuser")
    ]
    try:
        g = step_generator(trainer.seed, 0, salt=13)
        for k in range(n_batches):
            trainer.loss(trainer.data(k, split="val"), g, train=False, grounded=True)
    finally:
        for h in hooks:
            h.remove()
    return {name: torch.cat(xs) for name, xs in feats.items()}
