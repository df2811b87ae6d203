"""The mining loop: step an optimiser until the budget is spent, checkpointing on the way."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, model_validator

from .checkpoint import CheckpointStore
from .optimizers.base import MasterPrintOptimizer

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = ("step", "evaluations", "step_loss", "best_loss", "seconds")


class BudgetConfig(BaseModel):
    """When mining stops; whichever limit is reached first. At least one must be set.

    Attributes:
        evaluations: images scored in total (a gradient step on a population of 14 scores 14; a CMA
            generation of 24 scores 24). A step is never cut, so the total can exceed this by less
            than one step.
        seconds: wall-clock seconds of mining, summed over resumed attempts.
    """

    model_config = ConfigDict(extra="forbid")

    evaluations: int | None = None
    seconds: float | None = None

    @model_validator(mode="after")
    def _check(self) -> BudgetConfig:
        if self.evaluations is None and self.seconds is None:
            raise ValueError(
                "the budget is empty: set attack.budget.evaluations (images scored) or attack.budget.seconds"
            )
        if self.evaluations is not None and self.evaluations <= 0:
            raise ValueError(
                f"attack.budget.evaluations must be a positive number of image evaluations, got {self.evaluations}"
            )
        if self.seconds is not None and self.seconds <= 0:
            raise ValueError(f"attack.budget.seconds must be positive, got {self.seconds}")
        return self


@dataclass
class Progress:
    """One line of the mining log, passed to the progress callback after each step."""

    step: int
    evaluations: int
    step_loss: float
    best_loss: float
    seconds: float


@dataclass
class MiningResult:
    """The outcome of :func:`mine`.

    Attributes:
        image: `(1, 3, H, W)` best image in [0, 1].
        params: `(1, *space.shape)` its parameters.
        best_loss: its loss (the negated aggregate score).
        evaluations: images scored in total (resumed attempts included).
        steps: optimiser steps in total.
        wall_seconds: mining time in total.
        history: one :class:`Progress` per step.
        stop_reason: ``"evaluations"``, ``"seconds"`` or ``"stopped"`` (the caller asked).
        resumed_at: the step the run resumed from (0 for a fresh run).
    """

    image: torch.Tensor
    params: torch.Tensor
    best_loss: float
    evaluations: int
    steps: int
    wall_seconds: float
    history: list[Progress] = field(default_factory=list)
    stop_reason: str = "evaluations"
    resumed_at: int = 0

    def loss_curve(self) -> dict[str, list[float]]:
        return {c: [float(getattr(p, c)) for p in self.history] for c in HISTORY_COLUMNS}


def run_fingerprint(optimizer: MasterPrintOptimizer) -> str:
    """A hash of everything that must match for a checkpoint to be resumed: optimiser and space
    configs, prompts, aggregation, run seed."""
    obj = optimizer.objective
    payload = {
        "optimizer": optimizer.describe(),
        "space": optimizer.space.describe(),
        "prompts": obj.prompts,
        "objective": obj.config.model_dump(),
        "seed": optimizer.runtime.seed,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def mine(
    optimizer: MasterPrintOptimizer,
    budget: BudgetConfig,
    checkpoint: CheckpointStore | None = None,
    checkpoint_every: float = 30.0,
    callback: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> MiningResult:
    """Run ``optimizer`` until ``budget`` is spent (or ``should_stop()`` says so).

    Args:
        optimizer: a built optimiser (fresh; its state is replaced by the checkpoint's if there is one).
        budget: evaluations and / or seconds.
        checkpoint: where to keep resumable state; an existing checkpoint of the same run is resumed,
            one of another run (different prompts, optimiser, space or seed) is refused.
        checkpoint_every: seconds between checkpoint writes (one is always written at the end).
        callback: called with a :class:`Progress` after every step (live display, logging).
        should_stop: polled before every step; returning ``True`` stops cleanly (state saved).

    Returns:
        A :class:`MiningResult`.
    """
    fingerprint = run_fingerprint(optimizer)
    history: list[Progress] = []
    wall_before = 0.0
    resumed_at = 0
    if checkpoint is not None:
        saved = checkpoint.load()
        if saved is not None:
            tensors, meta = saved
            if meta.get("fingerprint") != fingerprint:
                raise ValueError(
                    "the checkpoint belongs to a different mining run (prompts, optimizer, space or seed changed); "
                    "start a new run folder, or restore the original config to resume"
                )
            optimizer.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("state.")})
            hist = tensors.get("history")
            if hist is not None and hist.numel():
                history = [
                    Progress(int(r[0]), int(r[1]), float(r[2]), float(r[3]), float(r[4]))
                    for r in hist.tolist()
                ]
            wall_before = float(meta.get("wall_seconds", 0.0))
            resumed_at = optimizer.steps
            logger.info(
                "resumed mining at step %d (%d evaluations, best loss %.4f)",
                optimizer.steps,
                optimizer.evaluations,
                optimizer.best_loss,
            )

    def save(elapsed: float) -> None:
        if checkpoint is None:
            return
        tensors = {f"state.{k}": v for k, v in optimizer.state_dict().items()}
        tensors["history"] = torch.tensor(
            [[getattr(p, c) for c in HISTORY_COLUMNS] for p in history], dtype=torch.float64
        ).reshape(-1, len(HISTORY_COLUMNS))
        checkpoint.save(tensors, {"fingerprint": fingerprint, "wall_seconds": repr(wall_before + elapsed)})

    start = time.perf_counter()
    last_save = start
    reason = "evaluations"
    while True:
        elapsed = time.perf_counter() - start
        if budget.evaluations is not None and optimizer.evaluations >= budget.evaluations:
            reason = "evaluations"
            break
        if budget.seconds is not None and wall_before + elapsed >= budget.seconds:
            reason = "seconds"
            break
        if should_stop is not None and should_stop():
            reason = "stopped"
            break
        rec = optimizer.step()
        now = time.perf_counter()
        progress = Progress(
            rec.step, optimizer.evaluations, float(rec.losses.min()), rec.best_loss, wall_before + now - start
        )
        history.append(progress)
        if callback is not None:
            callback(progress)
        if checkpoint is not None and now - last_save >= checkpoint_every:
            save(now - start)
            last_save = now
    elapsed = time.perf_counter() - start
    save(elapsed)
    if optimizer.best_params is None:
        raise RuntimeError("mining stopped before its first step; nothing was mined")
    logger.info(
        "mining stopped (%s) after %d steps, %d evaluations, %.1f s; best loss %.4f",
        reason,
        optimizer.steps,
        optimizer.evaluations,
        wall_before + elapsed,
        optimizer.best_loss,
    )
    return MiningResult(
        image=optimizer.best_image(),
        params=optimizer.best_params.detach().clone(),
        best_loss=optimizer.best_loss,
        evaluations=optimizer.evaluations,
        steps=optimizer.steps,
        wall_seconds=wall_before + elapsed,
        history=history,
        stop_reason=reason,
        resumed_at=resumed_at,
    )


def describe_budget(budget: BudgetConfig) -> dict[str, Any]:
    return budget.model_dump()
