"""``argparse`` types that refuse bad values at parse time with one clear line.

Each type raises ``argparse.ArgumentTypeError``, which ``argparse`` prints as
``workbench attack: error: argument --seed: ...`` (exit status 2), before any work starts.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> _ = p.add_argument("--seed", type=seed, default=0)
    >>> p.parse_args(["--seed", "7"]).seed
    7
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from workbench.config import MAX_SEED

__all__ = ["bounded_float", "bounded_int", "finite_float", "seed"]


def seed(text: str) -> int:
    """A run seed: an integer in ``0 .. 2**63 - 1``."""
    value = _int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed {text} is outside 0..{MAX_SEED} (2**63 - 1)")
    return value


def bounded_int(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An integer type accepting ``low <= value <= high`` (``None``: unbounded on that side)."""

    def parse(text: str) -> int:
        value = _int(text)
        _check_range(text, value, low, high)
        return value

    parse.__name__ = "int"
    return parse


def finite_float(text: str) -> float:
    """A finite float (``inf`` and ``nan`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def bounded_float(low: float | None = None, high: float | None = None) -> Callable[[str], float]:
    """A finite float type accepting ``low <= value <= high`` (``None``: unbounded on that side)."""

    def parse(text: str) -> float:
        value = finite_float(text)
        _check_range(text, value, low, high)
        return value

    parse.__name__ = "float"
    return parse


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _check_range(text: str, value: float, low: float | None, high: float | None) -> None:
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "" if low is None else f"{low:g}"
        hi = "" if high is None else f"{high:g}"
        wanted = f"{lo}..{hi}" if lo and hi else (f">= {lo}" if lo else f"<= {hi}")
        raise argparse.ArgumentTypeError(f"{text} is out of range; use a value {wanted}")
