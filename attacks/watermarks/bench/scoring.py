"""Per-cell numbers of the benchmark, through the metrics layer: detection (bit accuracy, TPR at
fixed FPRs from the clean-image null, AUC), quality (PSNR, SSIM, LPIPS, CLIP-I) and content (judge
preservation, caption faithfulness)."""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Any

import torch

logger = logging.getLogger(__name__)


def same_objects(reference: list[Any], attacked: list[Any]) -> bool:
    """Whether the judge finds the same objects (a multiset of (shape, colour)) in both images."""
    return Counter((d.shape, d.color) for d in reference) == Counter((d.shape, d.color) for d in attacked)


class Scorer:
    """Quality and content metrics of attacked images against their references.

    Args:
        clip: ``(CLIPModel, CLIPProcessor)`` or ``None``.
        judge: object with ``detect(images) -> list[list[Detection]]`` or ``None``.
        lpips: build LPIPS (AlexNet); when its backbone weights are missing it is skipped with a note.
    """

    def __init__(self, clip: tuple[Any, Any] | None, judge: Any, lpips: bool) -> None:
        self.notes: list[str] = []
        self.clip_i = self.clip_t = None
        if clip is not None:
            from metrics.embedding.clip_i import CLIPImageScore  # deferred: torchmetrics
            from metrics.embedding.clip_t import CLIPTextScore  # deferred: torchmetrics

            # used per work item (cells are shared out by map_items): never synced across processes
            self.clip_i = CLIPImageScore(*clip, sync_on_compute=False)
            self.clip_t = CLIPTextScore(*clip, sync_on_compute=False)
        self.judge = judge
        self.lpips = None
        if lpips:
            try:
                from metrics.image.lpips import LPIPS  # deferred: torchmetrics

                self.lpips = LPIPS(net="alex", sync_on_compute=False)
            except (FileNotFoundError, OSError) as err:
                self.notes.append(f"LPIPS skipped: {err}")

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "psnr": {"data_range": 1.0},
            "ssim": {"data_range": 1.0, "gaussian_weights": True},
        }
        for key, metric in (
            ("clip_i", self.clip_i),
            ("caption_faithfulness", self.clip_t),
            ("lpips", self.lpips),
        ):
            if metric is not None:
                out[key] = metric.describe()
        return out

    @torch.no_grad()
    def per_image(
        self, attacked: torch.Tensor, reference: torch.Tensor, captions: list[str], generated: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Per-image metrics ``name -> (B,)`` (NaN where a metric does not apply)."""
        from metrics.functional import peak_signal_noise_ratio, structural_similarity  # deferred: scipy

        b = attacked.shape[0]
        nan = torch.full((b,), math.nan, dtype=torch.float64)
        out = {
            "psnr": peak_signal_noise_ratio(attacked, reference, data_range=1.0).double().cpu(),
            "ssim": structural_similarity(attacked, reference, data_range=1.0).double().cpu(),
            "lpips": nan.clone(),
            "clip_i": nan.clone(),
            "caption_faithfulness": nan.clone(),
            "judge_preserved": nan.clone(),
        }
        if self.lpips is not None:
            out["lpips"] = self.lpips.forward_values(attacked, reference).double().cpu()
        if self.clip_i is not None:
            out["clip_i"] = self.clip_i.forward_values(attacked, reference).double().cpu()
            with_caption = [i for i, c in enumerate(captions) if c]
            if with_caption:
                values, _ = self.clip_t.forward_values(
                    attacked[with_caption], [captions[i] for i in with_caption]
                )
                out["caption_faithfulness"][with_caption] = values.double().cpu()
        if self.judge is not None and bool(generated.any()):
            idx = [i for i in range(b) if bool(generated[i])]
            before = self.judge.detect(reference[idx])
            after = self.judge.detect(attacked[idx])
            for i, ref, att in zip(idx, before, after):
                if ref:  # images where the judge sees nothing to preserve are left out
                    out["judge_preserved"][i] = float(same_objects(ref, att))
        return out


def detection_summary(
    null_scores: torch.Tensor,
    scores: torch.Tensor,
    bits: torch.Tensor,
    payload: torch.Tensor,
    fprs: list[float],
) -> dict[str, Any]:
    """Bit accuracy, TPR at each FPR with its threshold, and ROC AUC of watermarked-and-attacked
    ``scores`` against the ``null_scores`` of clean, un-attacked images (metrics layer)."""
    from metrics.functional import bit_accuracy, roc_auc, tpr_at_fpr  # deferred: scipy

    out: dict[str, Any] = {
        "bit_accuracy": float(bit_accuracy(bits, payload).mean()) if bits.shape[-1] else math.nan,
        "auc": roc_auc(null_scores, scores),
        "score_mean": float(scores.double().mean()),
        "null_score_mean": float(null_scores.double().mean()),
        "n_null": int(null_scores.numel()),
    }
    for fpr in fprs:
        r = tpr_at_fpr(null_scores, scores, fpr)
        tag = fpr_tag(fpr)
        out[f"tpr_at_{tag}_fpr"] = r["tpr"]
        out[f"threshold_at_{tag}_fpr"] = r["threshold"]
        out[f"achieved_fpr_at_{tag}"] = r["achieved_fpr"]
    return out


def fpr_tag(fpr: float) -> str:
    """``0.01 -> "1pct"``, ``0.001 -> "0.1pct"``."""
    return f"{fpr * 100:g}pct"
