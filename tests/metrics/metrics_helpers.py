"""Helpers shared by the metrics tests."""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """(H, W, C) or (N, H, W, C) numpy -> (N, C, H, W) float64 tensor."""
    t = torch.from_numpy(np.ascontiguousarray(array))
    if t.ndim == 3:
        t = t[None]
    return t.permute(0, 3, 1, 2).contiguous()
