"""Numbers over seeds: mean, standard error and each seed's value, as the studies' tables show them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["over_seeds", "seed_cell", "summary"]


def over_seeds(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "se", "values"}`` of one quantity measured once per seed (``se``: the sample standard
    deviation over the square root of the number of seeds; 0 for one seed).

    Example:
        >>> over_seeds([0.5, 0.7, 0.6])["mean"]
        0.6
        >>> round(over_seeds([0.5, 0.7, 0.6])["se"], 4)
        0.0577
    """
    if not values:
        raise ValueError("no values to summarise over seeds")
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return {"mean": round(mean, 12), "se": math.sqrt(var / n), "values": [float(v) for v in values]}


def seed_cell(values: Sequence[float], scale: float = 100.0, digits: int = 1) -> str:
    """A table cell ``"mean +/- se (v0, v1, ...)"``, values multiplied by ``scale`` (100: percent).

    Example:
        >>> seed_cell([0.5, 0.7, 0.6])
        '60.0 +/- 5.8 (50.0, 70.0, 60.0)'
    """
    s = over_seeds(values)
    each = ", ".join(f"{v * scale:.{digits}f}" for v in s["values"])
    return f"{s['mean'] * scale:.{digits}f} +/- {s['se'] * scale:.{digits}f} ({each})"


def summary(rows: Sequence[dict[str, Any]], key: str, group: dict[str, Any]) -> dict[str, Any] | None:
    """:func:`over_seeds` of ``rows[key]`` over the rows matching ``group`` (each seed's value is the mean of
    its matching rows; rows carry a ``seed``); ``None`` when no row matches.

    Example:
        >>> rows = [{"seed": 0, "x": 1.0, "k": 1}, {"seed": 1, "x": 0.0, "k": 1}, {"seed": 1, "x": 5.0, "k": 2}]
        >>> summary(rows, "x", {"k": 1})["values"]
        [1.0, 0.0]
    """
    per_seed: dict[int, list[float]] = {}
    for row in rows:
        if all(row.get(k) == v for k, v in group.items()) and row.get(key) is not None:
            per_seed.setdefault(row["seed"], []).append(float(row[key]))
    if not per_seed:
        return None
    return over_seeds([sum(v) / len(v) for _, v in sorted(per_seed.items())])
