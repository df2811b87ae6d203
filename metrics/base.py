"""The base of the metrics that keep one value per item (image, prompt, query).

Keeping per-item values (a ``cat`` state) instead of a running sum costs one float per item and buys
per-image reports, bootstrap confidence intervals and process-order-independent aggregates: under
``accelerate launch`` the states are gathered in process order, so the mean over 2 processes equals
the mean over 1.

A metric that scores items another mechanism already shares out or gathers (an experiment's work items,
:func:`workbench.runs.items.map_items`) is built with ``sync_on_compute=False``: ``compute`` and
``per_item`` then read this process's values only, and never wait for a process that does not score.
"""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat


class PerItemMetric(Metric):
    """A torchmetrics ``Metric`` whose ``compute()`` is the mean of per-item values.

    Subclasses call :meth:`_append` in ``update`` and describe their settings in :meth:`settings`.
    """

    full_state_update = False
    #: the name used in reports and on the command line
    name: str = "metric"
    #: the unit printed beside the number ("dB", "" ...)
    unit: str = ""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("values", default=[], dist_reduce_fx="cat")

    def _append(self, values: torch.Tensor) -> torch.Tensor:
        values = values.detach().to(torch.float64).reshape(-1)
        self.values.append(values)
        return values

    def add_values(self, values: torch.Tensor) -> torch.Tensor:
        """Record per-item values computed elsewhere (e.g. by ``forward_values``) as one update.

        Returns:
            the values as recorded, `(N,)` float64.
        """
        self._update_count += 1
        self._computed = None
        return self._append(values)

    def per_item(self) -> torch.Tensor:
        """Every accumulated per-item value, across processes (unless built with
        ``sync_on_compute=False``, as ``compute``), in update order.

        Returns:
            `torch.Tensor` of shape `(N,)`, float64.
        """
        with self.sync_context(should_sync=self.sync_on_compute, should_unsync=True):
            if isinstance(self.values, torch.Tensor):
                return self.values.clone()
            if len(self.values) == 0:
                return torch.zeros(0, dtype=torch.float64, device=self.device)
            return dim_zero_cat(self.values).clone()

    def compute(self) -> torch.Tensor:
        if isinstance(self.values, list) and len(self.values) == 0:
            raise RuntimeError(f"{type(self).__name__}.compute() called before any update()")
        values = dim_zero_cat(self.values) if not isinstance(self.values, torch.Tensor) else self.values
        if values.numel() == 0:
            raise RuntimeError(f"{type(self).__name__}.compute() called before any update()")
        return values.mean()

    def settings(self) -> dict[str, Any]:
        """The parameters that define the number (written into reports beside it)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """``{"metric": name, "unit": ..., **settings}`` for a report."""
        return {"metric": self.name, "unit": self.unit, **self.settings()}
