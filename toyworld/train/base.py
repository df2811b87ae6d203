"""What the toy trainers share: one trained module, its AdamW optimiser and EMA weights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .loop import EMA, warm_start_module


class EMATrainer:
    """Base of a trainer whose module lives in the attribute ``module_key``, with ``self.opt`` and
    ``self.ema``. Checkpoints hold the module, the optimiser and the EMA weights under the keys
    ``module_key``, ``"opt"`` and ``"ema"``, plus what :meth:`extra_state` adds."""

    module_key = "model"
    grad_clip = 1.0
    opt: torch.optim.Optimizer
    ema: EMA

    @property
    def module(self) -> torch.nn.Module:
        return getattr(self, self.module_key)

    def trained_parameters(self) -> list[torch.nn.Parameter]:
        """What the optimiser trains and the gradient clipping sees: the module's parameters."""
        return list(self.module.parameters())

    def optimise(self, loss: torch.Tensor, step: int) -> None:
        """One optimiser step on ``loss`` with gradient clipping, then the EMA update."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.trained_parameters(), self.grad_clip)
        self.opt.step()
        self.ema.update(self.module, step)

    def ema_copy(self, build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
        """A fresh module from ``build()`` holding the EMA weights, in eval mode."""
        module = build()
        self.ema.copy_to(module)
        return module.eval()

    def warm_start_from(self, exported: torch.nn.Module) -> None:
        warm_start_module(self.module, self.ema, exported)

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {
            self.module_key: self.module.state_dict(),
            "opt": self.opt.state_dict(),
            "ema": self.ema.shadow,
            **self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state[self.module_key])
        self.opt.load_state_dict(state["opt"])
        self.ema.shadow = state["ema"]
        self.load_extra_state(state)
