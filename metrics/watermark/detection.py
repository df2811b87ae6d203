"""Score-based watermark detection quality as an accumulating metric."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from metrics.functional.detection import roc_auc, tpr_at_fpr


class WatermarkDetection(Metric):
    """ROC AUC and TPR at fixed FPRs of a continuous detection score (higher = more likely marked).

    Thresholds come from the empirical null: the scores of unwatermarked images passed with
    ``watermarked=False``. ``compute()`` returns, for every target FPR, the TPR, the threshold
    (save it with the result: a deployed detector uses it) and the achieved FPR. Measuring a FPR of
    0.1% needs at least 1000 null images; with fewer, the result says so (``fpr_resolution``).

    Args:
        fprs: target false-positive rates (default 1% and 0.1%).

    Inputs to ``update``:
        scores (`torch.Tensor` of shape `(B,)`); watermarked: bool for the whole batch or `(B,)` bools.
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False
    name = "watermark_detection"

    def __init__(self, fprs: tuple[float, ...] = (0.01, 0.001), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fprs = tuple(float(f) for f in fprs)
        self.add_state("null_scores", default=[], dist_reduce_fx="cat")
        self.add_state("positive_scores", default=[], dist_reduce_fx="cat")

    def update(self, scores: torch.Tensor, watermarked: bool | torch.Tensor) -> None:
        s = torch.as_tensor(scores, dtype=torch.float64).reshape(-1)
        if not bool(torch.isfinite(s).all()):
            raise ValueError("detection scores contain NaN or infinite values")
        w = torch.as_tensor(watermarked, dtype=torch.bool).reshape(-1)
        if w.numel() == 1:
            w = w.expand_as(s)
        if w.shape != s.shape:
            raise ValueError(f"watermarked has {w.numel()} entries for {s.numel()} scores")
        self.null_scores.append(s[~w])
        self.positive_scores.append(s[w])

    def compute(self) -> dict[str, Any]:
        null, pos = dim_zero_cat(self.null_scores), dim_zero_cat(self.positive_scores)
        if null.numel() == 0 or pos.numel() == 0:
            raise RuntimeError(f"need null and watermarked scores, got {null.numel()} and {pos.numel()}")
        out: dict[str, Any] = {
            "auc": roc_auc(null, pos),
            "n_null": null.numel(),
            "n_watermarked": pos.numel(),
        }
        for fpr in self.fprs:
            r = tpr_at_fpr(null, pos, fpr)
            tag = f"{fpr * 100:g}%"
            out[f"tpr@{tag}"] = r["tpr"]
            out[f"threshold@{tag}"] = r["threshold"]
            out[f"achieved_fpr@{tag}"] = r["achieved_fpr"]
            if r["fpr_resolution"] > fpr:
                out[f"warning@{tag}"] = (
                    f"only {null.numel()} null images: a FPR of {fpr:g} cannot be resolved"
                )
        return out

    def describe(self) -> dict[str, Any]:
        return {"metric": self.name, "fprs": list(self.fprs), "decision": "score > threshold"}
