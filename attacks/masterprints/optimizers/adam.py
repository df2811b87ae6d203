"""Adam on the space's parameters (the paper's latent and raw-pixel gradient runs)."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from .base import OPTIMIZERS
from .gradient import GradientConfig, GradientOptimizer


class AdamConfig(GradientConfig):
    """
    Attributes:
        betas: Adam's moment decay rates.
    """

    name: Literal["adam"] = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(0.0, ge=0)


@OPTIMIZERS.register("adam")
class Adam(GradientOptimizer):
    """``torch.optim.Adam`` on a population of parameters; the sum of their losses is minimised."""

    name = "adam"
    config_class = AdamConfig

    def _make_torch_optimizer(self, params: list[torch.Tensor]) -> torch.optim.Optimizer:
        c = self.config
        return torch.optim.Adam(params, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay)
