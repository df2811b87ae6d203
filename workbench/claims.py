"""Claims that hold on any seed: run an example config over seeds and summarise a measured quantity.

A claim is one example config with ``--set``-style overrides, the config fields that carry its seeds
(the run ``seed`` for noise, a prompt or layout seed for what is drawn) and the quantities it states
with their targets. Seed ``s`` sets every seed field to its base value plus ``s``, so seed 0 is the
config as shipped. A quantity holds when its mean over the seeds reaches the target and its worst seed
falls no more than two standard errors below the target.

    >>> s = summarise([0.40, 0.35, 0.45], seeds=[0, 1, 2], target=0.30)
    >>> round(s.mean, 3), round(s.standard_error, 3), s.holds
    (0.4, 0.029, True)
    >>> s.line("gain")
    'gain: 0.400 +/- 0.029 (target >= 0.300; worst 0.350; seeds 0: 0.400, 1: 0.350, 2: 0.450) holds'
"""

from __future__ import annotations

import json
import math
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import load_config

__all__ = [
    "Claim",
    "Quantity",
    "SeedSummary",
    "command",
    "run_claim",
    "run_over_seeds",
    "seed_overrides",
    "summarise",
]

Metrics = Mapping[str, Any]


@dataclass(frozen=True)
class Quantity:
    """One measured quantity of a claim: ``value(metrics)`` from a run's ``metrics.json``, and its target
    (``value >= target``; with ``higher=False``, ``value <= target``)."""

    name: str
    value: Callable[[Metrics], float]
    target: float
    higher: bool = True


@dataclass(frozen=True)
class Claim:
    """A claim measured by one example config over seeds.

    Args:
        name: a short identifier (``layout``, ``retrieval``, ...).
        statement: the claim in words.
        example: the example config's path.
        overrides: ``--set``-style overrides applied to every seed.
        seed_fields: dotted config field -> its value at seed 0 (seed ``s`` sets ``base + s``).
        quantities: what the claim states.
    """

    name: str
    statement: str
    example: str
    overrides: tuple[str, ...]
    seed_fields: Mapping[str, int]
    quantities: tuple[Quantity, ...]


@dataclass(frozen=True)
class SeedSummary:
    """A quantity over seeds: each seed's value, their mean, standard error and whether the claim holds."""

    values: tuple[float, ...]
    seeds: tuple[int, ...]
    target: float
    higher: bool = True
    mean: float = field(init=False)
    standard_error: float = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.values)
        if n == 0:
            raise ValueError("no values to summarise")
        mean = sum(self.values) / n
        var = sum((v - mean) ** 2 for v in self.values) / (n - 1) if n > 1 else 0.0
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "standard_error", math.sqrt(var / n))

    @property
    def worst(self) -> float:
        """The seed furthest from the target's side."""
        return min(self.values) if self.higher else max(self.values)

    @property
    def holds(self) -> bool:
        """The mean reaches the target and the worst seed is within two standard errors of it."""
        slack = 2.0 * self.standard_error
        if self.higher:
            return self.mean >= self.target and self.worst >= self.target - slack
        return self.mean <= self.target and self.worst <= self.target + slack

    def line(self, name: str) -> str:
        """One table line: mean +/- SE, target, worst and each seed's value."""
        op = ">=" if self.higher else "<="
        seeds = ", ".join(f"{s}: {v:.3f}" for s, v in zip(self.seeds, self.values))
        verdict = "holds" if self.holds else "FAILS"
        return (
            f"{name}: {self.mean:.3f} +/- {self.standard_error:.3f} (target {op} {self.target:.3f}; "
            f"worst {self.worst:.3f}; seeds {seeds}) {verdict}"
        )

    def markdown_row(self, name: str) -> str:
        """A markdown table row: quantity | mean +/- SE | each seed | target."""
        seeds = " | ".join(f"{v:.3f}" for v in self.values)
        op = ">=" if self.higher else "<="
        return f"| {name} | {self.mean:.3f} +/- {self.standard_error:.3f} | {seeds} | {op} {self.target:g} |"


def summarise(
    values: Sequence[float], seeds: Sequence[int], target: float, higher: bool = True
) -> SeedSummary:
    """The :class:`SeedSummary` of ``values`` (one per seed in ``seeds``)."""
    if len(values) != len(seeds):
        raise ValueError(f"{len(values)} values for {len(seeds)} seeds")
    return SeedSummary(tuple(float(v) for v in values), tuple(int(s) for s in seeds), float(target), higher)


def seed_overrides(seed_fields: Mapping[str, int], seed: int) -> list[str]:
    """``--set`` overrides that put every seed field at its base value plus ``seed``."""
    return [f"{name}={int(base) + int(seed)}" for name, base in seed_fields.items()]


def command(claim: Claim, seed: int) -> str:
    """The ``workbench run`` command line of ``claim`` at ``seed``."""
    sets = [*claim.overrides, *seed_overrides(claim.seed_fields, seed)]
    return " ".join(["workbench run", claim.example, *(f"--set {shlex.quote(s)}" for s in sets)])


def run_over_seeds(
    example: str | Path,
    overrides: Sequence[str],
    seed_fields: Mapping[str, int],
    seeds: Sequence[int],
    output_dir: str | Path,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Run ``example`` once per seed (``overrides`` plus the seed's overrides) under ``output_dir``; each
    run's ``metrics.json`` in seed order."""
    from workbench.runs import run_experiment  # deferred: PIL, numpy, torch

    out: list[dict[str, Any]] = []
    for seed in seeds:
        start = time.perf_counter()
        sets = [
            *overrides,
            *seed_overrides(seed_fields, seed),
            f"output_dir={Path(output_dir) / f'seed{seed}'}",
        ]
        run_dir = run_experiment(load_config(example, sets))
        out.append(json.loads((run_dir / "metrics.json").read_text()))
        if log is not None:
            log(f"{Path(example).name} seed {seed}: {time.perf_counter() - start:.0f} s ({run_dir})")
    return out


def run_claim(
    claim: Claim,
    seeds: Sequence[int],
    output_dir: str | Path,
    examples_dir: str | Path = ".",
    log: Callable[[str], None] | None = None,
) -> dict[str, SeedSummary]:
    """Measure ``claim`` on ``seeds``: quantity name -> its :class:`SeedSummary`."""
    metrics = run_over_seeds(
        Path(examples_dir) / claim.example, claim.overrides, claim.seed_fields, seeds, output_dir, log
    )
    return {
        q.name: summarise([q.value(m) for m in metrics], seeds, q.target, q.higher) for q in claim.quantities
    }
