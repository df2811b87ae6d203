"""The position probe of the GLIGEN fusers' visual tokens."""

from __future__ import annotations

import pytest
import torch

from generators.layout.gligen.probe import position_r2


def _grid(b: int, side: int) -> torch.Tensor:
    idx = torch.arange(side, dtype=torch.float32)
    return (
        torch.stack(torch.meshgrid(idx, idx, indexing="ij"), -1).reshape(1, side * side, 2).expand(b, -1, -1)
    )


def test_tokens_that_hold_their_place_score_one_and_noise_scores_none():
    g = torch.Generator().manual_seed(0)
    placed = torch.cat([_grid(8, 6) * 0.3, torch.randn(8, 36, 6, generator=g)], -1)  # (8, 36, 8)
    r2 = position_r2(placed)
    assert min(r2["all"] + r2["interior"]) > 0.999
    noise = position_r2(torch.randn(8, 36, 8, generator=g))
    assert max(noise["all"]) < 0.2


def test_bad_token_grids_are_refused():
    with pytest.raises(ValueError, match="square grid"):
        position_r2(torch.randn(4, 10, 3))
    with pytest.raises(ValueError, match="give more images"):
        position_r2(torch.randn(2, 9, 16))
