"""The study's numbers from the detectors' raw outputs: detection against the seed's null, detection at
matched SSIM, and each generator's difference from the stock pipeline.

Every watermark detector gives a continuous score per image (bit agreement with the payload, or minus the
Tree-Ring distance) and decoded bits. The threshold is set on the *null*: the clean (un-watermarked)
images of every generator of the seed, scored by the same detector, since a deployed detector does not
know which generator made an image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from attacks.watermarks.bench.report import matched_ssim
from attacks.watermarks.bench.scoring import detection_summary, fpr_tag

__all__ = ["detection", "matched_quality", "paired_differences"]


def detection(
    null_scores: torch.Tensor, scores: torch.Tensor, bits: torch.Tensor, payload: torch.Tensor, fpr: float
) -> dict[str, float]:
    """``{"tpr", "threshold", "bit_accuracy", "auc", "score_mean"}`` of watermarked (and maybe attacked)
    images against the null (the workbench's watermark detection summary); ``bit_accuracy`` is ``None`` for a
    zero-bit watermark.

    Args:
        null_scores (`(M,)`): the detector's scores of clean images.
        scores (`(N,)`): its scores of the images under test.
        bits (`(N, L)`): their decoded bits (``L = 0``: a zero-bit watermark).
        payload (`(L,)`): the key's bits.
        fpr: the false-positive rate the threshold is set at.

    Example:
        >>> out = detection(torch.tensor([0.4, 0.5, 0.6]), torch.tensor([0.9, 0.5]), torch.ones(2, 2),
        ...                 torch.ones(2), 0.01)
        >>> out["tpr"], out["bit_accuracy"]
        (0.5, 1.0)
    """
    summary = detection_summary(null_scores.double(), scores.double(), bits.float(), payload.float(), [fpr])
    tag = fpr_tag(fpr)
    return {
        "tpr": float(summary[f"tpr_at_{tag}_fpr"]),
        "threshold": float(summary[f"threshold_at_{tag}_fpr"]),
        "bit_accuracy": None if _nan(summary["bit_accuracy"]) else float(summary["bit_accuracy"]),
        "auc": float(summary["auc"]),
        "score_mean": float(summary["score_mean"]),
    }


def matched_quality(rows: Sequence[dict[str, Any]], levels: Sequence[float]) -> list[dict[str, Any]]:
    """TPR and bit accuracy of each attack interpolated at SSIM ``levels`` (to the watermarked image) along
    its strength curve, which starts at the un-attacked images (SSIM 1), with the watermark benchmark's
    interpolation (linear in SSIM, first crossing; ``None`` where the curve never reaches the level).

    Args:
        rows: one watermark's rows of one seed and generator: ``attack`` (``"none"`` for no attack),
            ``strength``, ``ssim``, ``tpr``, ``bit_accuracy``.

    Returns:
        One row per attack: ``{"attack", "tpr@ssim<level>", "acc@ssim<level>", ...}``.

    Example:
        >>> rows = [{"attack": "none", "strength": 0.0, "ssim": 1.0, "tpr": 1.0, "bit_accuracy": 1.0},
        ...         {"attack": "jpeg", "strength": 0.5, "ssim": 0.8, "tpr": 0.0, "bit_accuracy": 0.5}]
        >>> matched_quality(rows, [0.9])
        [{'attack': 'jpeg', 'tpr@ssim0.9': 0.5, 'acc@ssim0.9': 0.75}]
    """
    # the benchmark's rows name the TPR ``tpr_at_1pct_fpr`` whatever the FPR it was measured at
    bench_rows = [
        {**r, "watermark": "-", "tpr_at_1pct_fpr": r["tpr"], "bit_accuracy": r["bit_accuracy"]} for r in rows
    ]
    out = []
    for row in matched_ssim(bench_rows, list(levels)):
        cells = {k: (None if v == "" or _nan(v) else float(v)) for k, v in row.items() if "@ssim" in k}
        out.append({"attack": row["attack"], **cells})
    return out


def paired_differences(values: dict[int, float], baseline: dict[int, float]) -> list[float]:
    """``value - baseline`` per seed over the seeds both have (a generator against stock, seed by seed).

    Example:
        >>> paired_differences({0: 0.5, 1: 0.25}, {0: 1.0, 1: 0.25, 2: 0.0})
        [-0.5, 0.0]
    """
    seeds = sorted(set(values) & set(baseline))
    if not seeds:
        raise ValueError("no seed has both values to compare")
    return [values[s] - baseline[s] for s in seeds]


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
