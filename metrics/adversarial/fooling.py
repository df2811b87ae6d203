"""CLIPMasterPrints' fooling accuracy as an accumulating metric."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics.utilities import dim_zero_cat

from metrics.base import PerItemMetric
from metrics.functional.adversarial import adversarial_rank, fooling_accuracy


class FoolingAccuracy(PerItemMetric):
    """Mean over prompts of the fraction of real images of the prompt's class that score below the
    master image (CLIPMasterPrints). The master image's rank among the real ones is kept too.

    Inputs to ``update``:
        master_scores (`torch.Tensor` of shape `(P,)`); real_scores (`torch.Tensor` of shape `(P, N)`);
        real_mask (`(P, N)` bool, optional): which real images belong to each prompt's class.
    """

    name = "fooling_accuracy"
    higher_is_better = True
    is_differentiable = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("ranks", default=[], dist_reduce_fx="cat")

    def update(
        self, master_scores: torch.Tensor, real_scores: torch.Tensor, real_mask: torch.Tensor | None = None
    ) -> None:
        self._append(fooling_accuracy(master_scores, real_scores, real_mask))
        self.ranks.append(adversarial_rank(master_scores, real_scores, real_mask).to(torch.float64))

    def per_prompt_ranks(self) -> torch.Tensor:
        """The master image's rank per prompt `(P,)` (1 = above every real image)."""
        with self.sync_context(should_sync=True, should_unsync=True):
            return dim_zero_cat(self.ranks).clone()

    def settings(self) -> dict[str, Any]:
        return {"definition": "fraction of real images of the prompt's class scoring below the master image"}
