"""Independent restarts of a mining run, sharded over processes; the best image gathered.

Restart ``r`` mines with the optimiser key ``key`` (``r = 0``, so one restart is the ordinary run) or
``key/restart-r``: its randomness is keyed by the restart, never by the process. ``Runtime.split`` gives
each process a contiguous share of the restarts, ``Runtime.gather`` collects every restart's result on
every process, and the lowest loss wins (the lowest restart index on a tie), so 1 and N processes mine
the same image from the same restart set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from workbench.runtime import Runtime

from .checkpoint import CheckpointStore
from .mining import BudgetConfig, MiningResult, Progress, mine
from .optimizers.base import MasterPrintOptimizer

logger = logging.getLogger(__name__)

__all__ = ["RestartsResult", "mine_restarts", "restart_key"]


def restart_key(key: str, restart: int) -> str:
    """The optimiser key of restart ``restart`` (restart 0 keeps ``key``)."""
    return key if restart == 0 else f"{key}/restart-{restart}"


@dataclass
class RestartsResult:
    """The best restart's :class:`MiningResult` and every restart's best loss (restart order)."""

    best: MiningResult
    best_restart: int
    losses: list[float]
    evaluations: int


def mine_restarts(
    make_optimizer: Callable[[int], MasterPrintOptimizer],
    restarts: int,
    budget: BudgetConfig,
    runtime: Runtime,
    checkpoint_for: Callable[[int], CheckpointStore | None] = lambda r: None,
    checkpoint_every: float = 30.0,
    callback: Callable[[int, Progress], None] | None = None,
) -> RestartsResult:
    """Mine ``restarts`` independent runs, each with ``budget``, sharded over ``runtime``'s processes.

    Args:
        make_optimizer: restart index -> a fresh optimiser (key it with :func:`restart_key`).
        checkpoint_for: restart index -> its checkpoint store (a resumed run continues each restart).
        callback: ``(restart, progress)`` after every step.

    Returns:
        The same :class:`RestartsResult` on every process.
    """
    if restarts < 1:
        raise ValueError(f"restarts must be at least 1, got {restarts}")
    done: list[tuple[int, MiningResult]] = []
    with runtime.split(list(range(restarts))) as share:
        for r in share:
            step_cb = None if callback is None else (lambda p, r=r: callback(r, p))
            res = mine(make_optimizer(r), budget, checkpoint_for(r), checkpoint_every, callback=step_cb)
            res.image, res.params = res.image.detach().cpu(), res.params.detach().cpu()
            logger.info("restart %d: best loss %.4f after %d evaluations", r, res.best_loss, res.evaluations)
            done.append((r, res))
    gathered = sorted(runtime.gather(done), key=lambda item: item[0])
    losses = [res.best_loss for _, res in gathered]
    best_restart = min(range(len(losses)), key=lambda i: (losses[i], i))
    best = gathered[best_restart][1]
    best.image = best.image.to(runtime.device)
    return RestartsResult(best, best_restart, losses, sum(res.evaluations for _, res in gathered))
