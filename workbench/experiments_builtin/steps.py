"""The tour's steps: each package adds a short section to the tour's report (``fn(ctx, result)`` with the
tour's :class:`~workbench.experiments_builtin.job.GenerationResult`). Light to import, so plugins can
declare their steps without loading models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workbench.registry import Registry

__all__ = ["TOUR_STEPS", "TourStep", "register_tour_step"]

TourStep = Callable[[Any, Any], None]
TOUR_STEPS: Registry[TourStep] = Registry("tour step")


def register_tour_step(name: str) -> Callable[[TourStep], TourStep]:
    """Decorator adding ``fn(ctx, result)`` to the tour under ``name``."""
    return TOUR_STEPS.register(name)
