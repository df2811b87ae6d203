"""Projected gradient descent with sign steps (the paper: uint8 steps in a 15/255 L-inf ball)."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from .base import OPTIMIZERS, MasterPrintOptimizer, OptimizerConfig


class PGDConfig(OptimizerConfig):
    """
    Attributes:
        population: candidates stepped side by side (from the same start in an L-inf ball unless the
            space starts at random).
        step: the sign-step size in parameter units (1/255: one uint8 level).
        quantize: round every iterate to the uint8 pixel grid (pixel spaces only), as the paper does.
    """

    name: Literal["pgd"] = "pgd"
    population: int = Field(1, ge=1)
    step: float = Field(1 / 255, gt=0)
    quantize: bool = True


@OPTIMIZERS.register("pgd")
class PGD(MasterPrintOptimizer):
    """``x <- quantize(project(x - step * sign(grad)))``."""

    name = "pgd"
    config_class = PGDConfig
    needs_gradients = True

    def __init__(self, config: PGDConfig, space, objective, runtime) -> None:
        super().__init__(config, space, objective, runtime)
        if getattr(space, "sigmoid", False):
            raise ValueError(
                "pgd takes sign steps in pixel units; the pixel space with squash='sigmoid' holds logits. "
                "Use squash: clamp (the default) with pgd, or a gradient optimiser such as adam"
            )
        params = space.project(space.init(config.population, self.generator("init")))
        if config.quantize:
            params = space.quantize(params)  # fails at once for spaces without a pixel grid
        self.params = params.detach()  # (pop, *shape)

    def _step(self) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.params.clone().requires_grad_(True)
        losses = self.objective.loss(self.space.decode(x))  # (pop,)
        (grad,) = torch.autograd.grad(losses.sum(), x)
        with torch.no_grad():
            nxt = self.space.project(x - self.config.step * grad.sign())
            if self.config.quantize:
                nxt = self.space.quantize(nxt)
        self.params = nxt.detach()
        return x.detach(), losses.detach()

    def _state(self) -> dict[str, torch.Tensor]:
        return {"params": self.params}

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        params = state["params"]
        if params.shape != self.params.shape:
            raise ValueError(
                f"checkpoint parameters have shape {tuple(params.shape)}, this run has {tuple(self.params.shape)}"
            )
        self.params = params.to(self.params.device)
