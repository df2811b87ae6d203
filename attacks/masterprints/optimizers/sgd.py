"""SGD (with momentum) on the space's parameters."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from .base import OPTIMIZERS
from .gradient import GradientConfig, GradientOptimizer


class SGDConfig(GradientConfig):
    """
    Attributes:
        momentum: heavy-ball momentum (0 for plain SGD).
        nesterov: Nesterov momentum.
    """

    name: Literal["sgd"] = "sgd"
    lr: float = Field(1.0, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False


@OPTIMIZERS.register("sgd")
class SGD(GradientOptimizer):
    """``torch.optim.SGD`` on a population of parameters."""

    name = "sgd"
    config_class = SGDConfig

    def __init__(self, config, space, objective, runtime) -> None:
        if config.nesterov and config.momentum == 0:
            raise ValueError("nesterov momentum needs momentum > 0")
        super().__init__(config, space, objective, runtime)

    def _make_torch_optimizer(self, params: list[torch.Tensor]) -> torch.optim.Optimizer:
        c = self.config
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov)
