"""Match detections to reference objects (Hungarian assignment on box IoU)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two normalised xyxy boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_boxes(
    pred: Sequence[Sequence[float]], ref: Sequence[Sequence[float]], min_iou: float = 0.1
) -> list[tuple[int, int, float]]:
    """Pairs ``(pred index, ref index, iou)`` maximising total IoU, keeping pairs with IoU >= ``min_iou``."""
    if not pred or not ref:
        return []
    iou = np.array([[box_iou(p, r) for r in ref] for p in pred])
    rows, cols = linear_sum_assignment(-iou)
    return [(int(r), int(c), float(iou[r, c])) for r, c in zip(rows, cols) if iou[r, c] >= min_iou]
