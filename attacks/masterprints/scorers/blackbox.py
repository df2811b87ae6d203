"""A black-box view of a scorer: images in, a score per prompt out, nothing else."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .base import Scorer

ScoreFn = Callable[[torch.Tensor], "torch.Tensor | np.ndarray"]


class BlackBoxScorer:
    """Scores of images against a fixed prompt list, without gradients or embeddings.

    The wrapped function may be a local model (see :meth:`from_scorer`) or anything that only answers
    score queries (a remote API). Every call is counted, so a run reports how many images it showed
    the model.

    Args:
        score_fn: maps `(B, 3, H, W)` images in [0, 1] to a `(B, P)` score array.
        prompts: the `P` prompts the scores refer to, in column order.
        batch_size: the most images sent per query (``None``: the whole batch in one query).

    Example:
        >>> bb = BlackBoxScorer(lambda x: x.mean(dim=(1, 2, 3))[:, None], ["bright"])
        >>> bb(torch.ones(2, 3, 8, 8)).tolist()
        [[1.0], [1.0]]
        >>> bb.images_scored
        2
    """

    differentiable = False

    def __init__(
        self,
        score_fn: ScoreFn,
        prompts: Sequence[str],
        batch_size: int | None = None,
        score_kind: str = "cosine",
    ) -> None:
        if not prompts:
            raise ValueError("a black-box scorer needs at least one prompt")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1 (or None), got {batch_size}")
        self._score_fn = score_fn
        self.prompts = list(prompts)
        self.batch_size = batch_size
        self.score_kind = score_kind
        self.queries = 0
        self.images_scored = 0

    @classmethod
    def from_scorer(
        cls, scorer: Scorer, prompts: Sequence[str], batch_size: int | None = None
    ) -> BlackBoxScorer:
        """Hide ``scorer`` behind a score-only function (text embeddings computed once, here; each query
        runs under ``torch.inference_mode``, which skips autograd's bookkeeping)."""
        text_emb = scorer.encode_text(list(prompts))  # (P, D)

        @torch.inference_mode()
        def score_fn(images: torch.Tensor) -> torch.Tensor:
            return scorer(images, text_emb)  # (B, P); __call__'s concatenation makes it an ordinary tensor

        return cls(score_fn, prompts, batch_size=batch_size, score_kind=scorer.score_kind)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """
        Args:
            images (`torch.Tensor` of shape `(B, 3, H, W)`): pixels in [0, 1].

        Returns:
            `torch.Tensor` of shape `(B, P)`, float32 on the images' device, detached.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W) in [0, 1], got {tuple(images.shape)}")
        images = images.detach()
        step = self.batch_size or images.shape[0]
        out = []
        for i in range(0, images.shape[0], step):
            scores = self._score_fn(images[i : i + step])
            scores = torch.as_tensor(np.asarray(scores) if not isinstance(scores, torch.Tensor) else scores)
            self.queries += 1
            out.append(scores.to(device=images.device, dtype=torch.float32))
        result = torch.cat(out)  # (B, P)
        if result.shape != (images.shape[0], len(self.prompts)):
            raise ValueError(
                f"the score function returned shape {tuple(result.shape)}, expected {(images.shape[0], len(self.prompts))}"
            )
        self.images_scored += images.shape[0]
        return result
