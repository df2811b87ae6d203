"""Shared machinery of the gradient optimisers: a population of parameters and a torch optimiser."""

from __future__ import annotations

import torch
from pydantic import Field

from .base import MasterPrintOptimizer, OptimizerConfig


class GradientConfig(OptimizerConfig):
    """
    Attributes:
        population: independent candidates optimised side by side in one batch (the paper: 14);
            the best one is kept.
        lr: learning rate (the paper: 5e-5 on SD latents for 50,000 iterations; larger on short runs).
    """

    population: int = Field(1, ge=1)
    lr: float = Field(0.01, gt=0)


class GradientOptimizer(MasterPrintOptimizer):
    """Backpropagates the objective through the space's decoder to the parameters."""

    needs_gradients = True

    def __init__(self, config, space, objective, runtime) -> None:
        super().__init__(config, space, objective, runtime)
        init = space.project(space.init(config.population, self.generator("init")))
        self.params = init.detach().clone().requires_grad_(True)  # (pop, *shape)
        self.torch_optimizer = self._make_torch_optimizer([self.params])

    def _make_torch_optimizer(self, params: list[torch.Tensor]) -> torch.optim.Optimizer:
        raise NotImplementedError

    def _step(self) -> tuple[torch.Tensor, torch.Tensor]:
        images = self.space.decode(self.params)  # (pop, 3, H, W)
        losses = self.objective.loss(images)  # (pop,)
        self.torch_optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        evaluated = self.params.detach().clone()
        self.torch_optimizer.step()
        with torch.no_grad():
            self.params.copy_(self.space.project(self.params))
        return evaluated, losses.detach()

    def _state(self) -> dict[str, torch.Tensor]:
        state = {"params": self.params.detach()}
        for k, v in self.torch_optimizer.state_dict()["state"].get(0, {}).items():
            if isinstance(v, torch.Tensor):
                state[f"torch.{k}"] = v
        return state

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        params = state["params"]
        if params.shape != self.params.shape:
            raise ValueError(
                f"checkpoint parameters have shape {tuple(params.shape)}, this run has {tuple(self.params.shape)}"
            )
        with torch.no_grad():
            self.params.copy_(params.to(self.params.device))
        inner = {k[6:]: v.to(self.params.device) for k, v in state.items() if k.startswith("torch.")}
        if inner:
            if "step" in inner:
                inner["step"] = inner["step"].cpu()  # torch keeps Adam's step count on the CPU
            sd = self.torch_optimizer.state_dict()
            sd["state"] = {0: inner}
            self.torch_optimizer.load_state_dict(sd)
