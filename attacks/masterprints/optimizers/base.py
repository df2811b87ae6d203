"""The optimiser interface: one ``step()`` at a time, best-so-far tracking, resumable state.

Every optimiser keeps its whole state in tensors (:meth:`MasterPrintOptimizer.state_dict`), so a
run checkpoint is a plain safetensors file and a killed run continues where it stopped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field

from workbench.registry import Registry
from workbench.runtime import Runtime

from ..objective import MultiPromptObjective
from ..spaces.base import SearchSpace

OPTIMIZERS: Registry[type[MasterPrintOptimizer]] = Registry("optimizer")


class OptimizerConfig(BaseModel):
    """Base of every optimiser's typed config; ``name`` selects the optimiser in :data:`OPTIMIZERS`.

    Attributes:
        key: the work-item key that seeds this run's randomness (with the run seed); two runs with
            different keys start from different points.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    key: str = Field("master", min_length=1)


@dataclass
class StepRecord:
    """What one optimiser step did.

    Attributes:
        step: the step number (1 for the first step).
        evaluations: images scored in this step.
        losses: `(n,)` losses of the candidates evaluated in this step.
        best_loss: the best loss seen so far, this step included.
    """

    step: int
    evaluations: int
    losses: torch.Tensor
    best_loss: float


class MasterPrintOptimizer(ABC):
    """Base class of the mining optimisers.

    Subclasses implement :meth:`_step` (evaluate candidates, update internal state, return the
    evaluated parameters and their losses) and their part of the state (:meth:`_state`,
    :meth:`_load_state`). This class counts steps and evaluations and keeps the best candidate.

    Args:
        config: the optimiser's typed config.
        space: the search space.
        objective: the multi-prompt objective (lower loss is better).
        runtime: the run's runtime (device and the seeded generators).
    """

    name: ClassVar[str]
    config_class: ClassVar[type[OptimizerConfig]]
    needs_gradients: ClassVar[bool] = False

    def __init__(
        self, config: OptimizerConfig, space: SearchSpace, objective: MultiPromptObjective, runtime: Runtime
    ) -> None:
        if config.name != self.name:
            raise ValueError(f"config for optimizer {config.name!r} given to {self.name!r}")
        if self.needs_gradients and not objective.differentiable:
            raise ValueError(
                f"optimizer {self.name!r} needs gradients but the objective is black-box (scores only); "
                "use a black-box optimizer such as 'cma', 'diagonal_cma' or 'one_plus_one'"
            )
        self.config = config
        self.space = space
        self.objective = objective
        self.runtime = runtime
        self.steps = 0
        self.evaluations = 0
        self.best_loss = float("inf")
        self.best_params: torch.Tensor | None = None  # (1, *space.shape)

    @classmethod
    def from_config(
        cls,
        config: OptimizerConfig | dict,
        space: SearchSpace,
        objective: MultiPromptObjective,
        runtime: Runtime,
    ) -> MasterPrintOptimizer:
        if isinstance(config, dict):
            config = cls.config_class.model_validate(config)
        return cls(config, space, objective, runtime)

    def generator(self, *keys: Any) -> torch.Generator:
        """A generator keyed by this optimiser and its run key (never by process)."""
        return self.runtime.generator("masterprints", self.name, self.config.key, *keys)

    # ------------------------------------------------------------------ stepping
    @abstractmethod
    def _step(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Evaluate candidates; return their `(n, *shape)` parameters and `(n,)` losses (detached)."""

    def step(self) -> StepRecord:
        params, losses = self._step()
        losses = losses.detach().float().cpu()
        if not torch.isfinite(losses).all():
            raise FloatingPointError(
                f"optimizer {self.name!r} produced non-finite losses at step {self.steps + 1}; lower the step size"
            )
        self.steps += 1
        self.evaluations += int(losses.numel())
        i = int(losses.argmin())
        if float(losses[i]) < self.best_loss:
            self.best_loss = float(losses[i])
            self.best_params = params[i : i + 1].detach().clone()
        return StepRecord(
            step=self.steps, evaluations=int(losses.numel()), losses=losses, best_loss=self.best_loss
        )

    @torch.no_grad()
    def best_image(self) -> torch.Tensor:
        """`(1, 3, H, W)` image in [0, 1] of the best candidate so far."""
        if self.best_params is None:
            raise RuntimeError("no step has run yet: there is no best image")
        return self.space.decode(self.best_params.to(self.space.device))

    # ------------------------------------------------------------------ state
    def _state(self) -> dict[str, torch.Tensor]:
        """The subclass's own resumable state (prefixed ``opt.`` in :meth:`state_dict`)."""
        return {}

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:  # noqa: B027 - optional hook
        """Restore what :meth:`_state` returned (nothing by default)."""

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Everything needed to resume, as tensors (safetensors-ready)."""
        state = {
            "steps": torch.tensor(self.steps, dtype=torch.int64),
            "evaluations": torch.tensor(self.evaluations, dtype=torch.int64),
            "best_loss": torch.tensor(self.best_loss, dtype=torch.float64),
        }
        if self.best_params is not None:
            state["best_params"] = self.best_params.detach().cpu().contiguous()
        for k, v in self._state().items():
            state[f"opt.{k}"] = v.detach().cpu().contiguous()
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.steps = int(state["steps"])
        self.evaluations = int(state["evaluations"])
        self.best_loss = float(state["best_loss"])
        best = state.get("best_params")
        if best is not None and tuple(best.shape[1:]) != tuple(self.space.shape):
            raise ValueError(
                f"checkpoint holds parameters of shape {tuple(best.shape[1:])}, the space has {self.space.shape}"
            )
        self.best_params = best.to(self.space.device) if best is not None else None
        self._load_state({k[4:]: v for k, v in state.items() if k.startswith("opt.")})

    def describe(self) -> dict[str, Any]:
        return {"optimizer": self.name, **self.config.model_dump()}


def build_optimizer(
    config: OptimizerConfig | dict, space: SearchSpace, objective: MultiPromptObjective, runtime: Runtime
) -> MasterPrintOptimizer:
    """Build the registered optimiser ``config.name``; bad settings fail here, before any step."""
    name = config.get("name") if isinstance(config, dict) else config.name
    return OPTIMIZERS.get(str(name)).from_config(config, space, objective, runtime)
