"""The multi-prompt objective: one image, many prompts, one loss.

The paper's loss is the negative of the *minimum* score over all target prompts: an image only
improves by raising its worst prompt. ``"mean"`` and ``"softmin"`` (a smooth minimum with
temperature ``tau``: ``-tau * logsumexp(-s / tau)``) are options.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from .scorers.base import Scorer
from .scorers.blackbox import BlackBoxScorer

logger = logging.getLogger(__name__)

Aggregation = Literal["min", "mean", "softmin"]


class ObjectiveConfig(BaseModel):
    """How per-prompt scores become one number.

    Attributes:
        aggregation: ``"min"`` (the paper), ``"mean"`` or ``"softmin"``.
        temperature: the softmin temperature, in score units (cosines); smaller is closer to ``min``.
    """

    model_config = ConfigDict(extra="forbid")

    aggregation: Aggregation = "min"
    temperature: float = Field(0.02, gt=0)


def aggregate(
    scores: torch.Tensor,
    aggregation: Aggregation = "min",
    temperature: float = 0.02,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Combine per-prompt scores.

    Args:
        scores (`torch.Tensor` of shape `(B, P)`): higher is better.
        aggregation: ``"min"``, ``"mean"`` or ``"softmin"``.
        temperature: softmin temperature.
        mask (`torch.Tensor` of shape `(B, P)`, bool, optional): the prompts each image targets.

    Returns:
        `torch.Tensor` of shape `(B,)`: the aggregated score (higher is better).

    Example:
        >>> aggregate(torch.tensor([[0.2, 0.5], [0.3, 0.1]])).tolist()
        [0.20000000298023224, 0.10000000149011612]
    """
    if mask is not None:
        if mask.shape != scores.shape:
            raise ValueError(
                f"prompt mask of shape {tuple(mask.shape)} does not match scores {tuple(scores.shape)}"
            )
        if not bool(mask.any(dim=1).all()):
            raise ValueError("every image needs at least one target prompt in the mask")
    if aggregation == "min":
        if mask is None:
            return scores.min(dim=1).values
        return scores.masked_fill(~mask, float("inf")).min(dim=1).values
    if aggregation == "mean":
        if mask is None:
            return scores.mean(dim=1)
        m = mask.to(scores.dtype)
        return (scores * m).sum(dim=1) / m.sum(dim=1)
    if aggregation == "softmin":
        neg = -scores / temperature  # (B, P)
        if mask is not None:
            neg = neg.masked_fill(~mask, float("-inf"))
        return -temperature * torch.logsumexp(neg, dim=1)
    raise ValueError(f"unknown aggregation {aggregation!r}; use 'min', 'mean' or 'softmin'")


class MultiPromptObjective:
    """Loss of images against a fixed set of target prompts (lower is better).

    Args:
        scorer: a white-box :class:`Scorer` (text embeddings are computed here, once) or a
            :class:`BlackBoxScorer` (scores only; gradient optimisers then refuse to run).
        prompts: the target prompts (validated beforehand with :func:`load_prompts`).
        config: aggregation settings.
        prompt_mask (`torch.Tensor` of shape `(B, P)`, bool, optional): per-image subsets of the
            prompts, for mining a batch of images on different targets at once.

    Example:
        >>> objective = MultiPromptObjective(scorer, ["a red circle", "a blue star"])  # doctest: +SKIP
        >>> objective.loss(torch.rand(4, 3, 64, 64)).shape  # doctest: +SKIP
        torch.Size([4])
    """

    def __init__(
        self,
        scorer: Scorer | BlackBoxScorer,
        prompts: Sequence[str],
        config: ObjectiveConfig | None = None,
        prompt_mask: torch.Tensor | None = None,
    ) -> None:
        self.prompts = list(prompts)
        if not self.prompts:
            raise ValueError("the objective needs at least one target prompt")
        self.config = config or ObjectiveConfig()
        self.scorer = scorer
        self.prompt_mask = prompt_mask
        if isinstance(scorer, BlackBoxScorer):
            if scorer.prompts != self.prompts:
                raise ValueError(
                    "the black-box scorer was built for other prompts than the objective's; build it with the same list"
                )
            self.differentiable = False
            self.text_emb = None
        elif isinstance(scorer, Scorer):
            self.differentiable = True
            self.text_emb = scorer.encode_text(self.prompts)  # (P, D), once
        else:
            raise TypeError(f"scorer must be a Scorer or a BlackBoxScorer, got {type(scorer).__name__}")
        self.evaluations = 0

    @property
    def score_kind(self) -> str:
        return self.scorer.score_kind

    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """`(B, P)` per-prompt scores of `(B, 3, H, W)` images in [0, 1] (differentiable when white-box)."""
        self.evaluations += images.shape[0]
        if self.text_emb is None:
            return self.scorer(images)  # (B, P), detached
        return self.scorer(images, self.text_emb)  # (B, P)

    def aggregate(self, scores: torch.Tensor) -> torch.Tensor:
        """`(B,)` aggregated score (higher is better) of a `(B, P)` score matrix."""
        mask = self.prompt_mask
        if mask is not None:
            mask = mask.to(scores.device)
            if mask.shape[0] != scores.shape[0]:
                raise ValueError(
                    f"the prompt mask covers {mask.shape[0]} images, the batch has {scores.shape[0]}"
                )
        return aggregate(scores, self.config.aggregation, self.config.temperature, mask)

    def loss(self, images: torch.Tensor) -> torch.Tensor:
        """`(B,)` loss (the negated aggregate score; lower is better) of `(B, 3, H, W)` images."""
        return -self.aggregate(self.scores(images))

    __call__ = loss
