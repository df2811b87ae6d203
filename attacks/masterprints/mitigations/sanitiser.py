"""A sanitiser in front of zero-shot classification and text-to-image retrieval: inputs the detector
flags are rejected instead of being classified or indexed."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from ..evaluation import embed_images
from ..scorers.base import Scorer
from .detector import MasterPrintDetector

logger = logging.getLogger(__name__)

REJECTED = -1


class Sanitiser:
    """Accept or reject images with a trained detector.

    Args:
        detector: a trained :class:`MasterPrintDetector`.
        threshold: images whose probability exceeds it are rejected (e.g. ``metrics.functional.threshold_at_fpr`` on real images' probabilities).
    """

    def __init__(self, detector: MasterPrintDetector, threshold: float) -> None:
        self.detector = detector
        self.threshold = float(threshold)

    def accept(self, images: torch.Tensor) -> torch.Tensor:
        """`(B,)` bool: ``True`` for `(B, 3, H, W)` images that pass."""
        return self.detector.probability(images) <= self.threshold


class ZeroShotClassifier:
    """Zero-shot classification with an optional sanitiser.

    Args:
        scorer: the model.
        class_prompts: one prompt per class.
        sanitiser: rejects flagged images (their prediction is ``-1``).
    """

    def __init__(
        self, scorer: Scorer, class_prompts: Sequence[str], sanitiser: Sanitiser | None = None
    ) -> None:
        if not class_prompts:
            raise ValueError("a zero-shot classifier needs at least one class prompt")
        self.scorer = scorer
        self.class_prompts = list(class_prompts)
        self.sanitiser = sanitiser
        self.text = scorer.encode_text(self.class_prompts)  # (C, D)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """`(B,)` class indices of `(B, 3, H, W)` images; ``-1`` where the sanitiser rejected the image."""
        scores = self.scorer.similarity(embed_images(self.scorer, images), self.text)  # (B, C)
        pred = scores.argmax(dim=1).cpu()
        if self.sanitiser is not None:
            pred[~self.sanitiser.accept(images).cpu()] = REJECTED
        return pred


class Retrieval:
    """Text-to-image retrieval over a gallery; a sanitiser keeps flagged images out of the index.

    Args:
        scorer: the model.
        gallery (`torch.Tensor` of shape `(N, 3, H, W)`): the images to search, in [0, 1].
        sanitiser: rejects flagged gallery images at indexing time.
    """

    def __init__(self, scorer: Scorer, gallery: torch.Tensor, sanitiser: Sanitiser | None = None) -> None:
        self.scorer = scorer
        keep = (
            torch.ones(gallery.shape[0], dtype=torch.bool)
            if sanitiser is None
            else sanitiser.accept(gallery).cpu()
        )
        self.indices = torch.nonzero(keep).squeeze(1)  # (K,) gallery positions indexed
        self.rejected = torch.nonzero(~keep).squeeze(1)
        if self.rejected.numel():
            logger.info("sanitiser kept %d gallery images out of the index", self.rejected.numel())
        self.embeddings = embed_images(scorer, gallery[keep]) if keep.any() else None  # (K, D)

    @torch.no_grad()
    def search(self, prompts: Sequence[str], k: int = 1) -> torch.Tensor:
        """`(P, k)` gallery positions of the top-``k`` images per prompt (best first)."""
        if self.embeddings is None:
            raise RuntimeError("every gallery image was rejected; nothing to search")
        k = min(k, self.embeddings.shape[0])
        scores = self.scorer.similarity(self.embeddings, self.scorer.encode_text(list(prompts)))  # (K, P)
        top = scores.T.topk(k, dim=1).indices.cpu()  # (P, k) into the index
        return self.indices[top]
