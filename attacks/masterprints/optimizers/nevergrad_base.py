"""Shared machinery of the black-box optimisers: nevergrad's ask / tell, one batched model call
per population, and resumption by deterministic replay.

Resuming: nevergrad's optimisers draw all their randomness from the parametrization's
``random_state``, which is seeded from the run seed. The checkpoint therefore holds the seed-derived
state implicitly plus every loss told so far (float64); loading rebuilds the optimiser and replays
ask / tell with those losses, without calling the model, which restores it exactly. A fingerprint of
the last population checks that the replay arrived where the run stopped. (The CMA-ES optimisers keep
their state in tensors instead, :mod:`.cma_es`; replay costs as much as the original generations' updates.)

nevergrad hides two events of its CMA family: when pycma's stop criteria fire it starts a fresh CMA-ES
at the origin, and it swallows errors of pycma's ``tell`` (the generation is then lost). Both are logged
as warnings here (:meth:`NevergradOptimizer._watch`).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from pydantic import Field

from .base import MasterPrintOptimizer, OptimizerConfig

logger = logging.getLogger(__name__)


class NevergradConfig(OptimizerConfig):
    """
    Attributes:
        popsize: candidates per generation, all scored in one model call (``None``: nevergrad's
            default for CMA, ``4 + int(3 * log(dim))``).
    """

    popsize: int | None = Field(None, ge=2, le=4096)


class NevergradOptimizer(MasterPrintOptimizer):
    """Base of the nevergrad optimisers; subclasses build the nevergrad optimiser in :meth:`_make`."""

    needs_gradients = False

    def __init__(self, config: NevergradConfig, space, objective, runtime) -> None:
        super().__init__(config, space, objective, runtime)
        self.popsize = int(config.popsize or 4 + int(3 * math.log(space.dim)))
        gen = self.generator("nevergrad")
        self.seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        self._told: list[float] = []
        self._fingerprint = 0.0
        self._build()

    def _make(self, parametrization, popsize: int):
        raise NotImplementedError

    def _build(self) -> None:
        import nevergrad as ng

        param = ng.p.Array(shape=(self.space.dim,))
        param.random_state = np.random.RandomState(self.seed)
        self.ng = self._make(param, self.popsize)

    def _ask(self) -> tuple[list, np.ndarray]:
        cands = [self.ng.ask() for _ in range(self.popsize)]
        vectors = np.stack([np.asarray(c.value, dtype=np.float64) for c in cands])  # (pop, dim)
        return cands, vectors

    def _inner(self) -> tuple[object | None, int | None]:
        """nevergrad's inner evolution strategy (pycma's, for its CMA family) and its iteration count."""
        es = getattr(self.ng, "_es", None)
        return es, getattr(es, "countiter", None)

    def _watch(self, before: tuple[object | None, int | None]) -> None:
        """Log a silent restart or a swallowed ``tell`` error of nevergrad since ``before``."""
        es, count = self._inner()
        if before[0] is not None and es is not before[0]:
            logger.warning(
                "%s: nevergrad restarted its evolution strategy at step %d (its stop criteria fired; the new "
                "one starts at the origin with the initial step size)",
                self.name,
                self.steps + 1,
            )
        elif es is not None and count is not None and before[1] is not None and count == before[1]:
            logger.warning(
                "%s: nevergrad swallowed an error of tell at step %d; this generation was not learnt from",
                self.name,
                self.steps + 1,
            )

    def _step(self) -> tuple[torch.Tensor, torch.Tensor]:
        before = self._inner()
        cands, vectors = self._ask()
        params = self.space.from_vectors(vectors)  # (pop, *shape)
        with torch.no_grad():
            losses = self.objective.loss(self.space.decode(params)).float().cpu()  # (pop,): ONE model call
        values = losses.double().tolist()
        for cand, value in zip(cands, values):
            self.ng.tell(cand, value)
        self._watch(before)
        self._told.extend(values)
        self._fingerprint = float(vectors.sum())
        return params, losses

    def _state(self) -> dict[str, torch.Tensor]:
        return {
            "seed": torch.tensor(self.seed, dtype=torch.int64),
            "popsize": torch.tensor(self.popsize, dtype=torch.int64),
            "told": torch.tensor(self._told, dtype=torch.float64),
            "fingerprint": torch.tensor(self._fingerprint, dtype=torch.float64),
        }

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        seed, popsize = int(state["seed"]), int(state["popsize"])
        if popsize != self.popsize:
            raise ValueError(
                f"checkpoint was written with popsize {popsize}, this run has {self.popsize}; keep the same config to resume"
            )
        told = state["told"].double().tolist()
        if len(told) % popsize:
            raise ValueError(
                f"checkpoint holds {len(told)} losses, not a whole number of populations of {popsize}"
            )
        self.seed = seed
        self._build()
        fingerprint = 0.0
        for i in range(0, len(told), popsize):
            cands, vectors = self._ask()
            for cand, value in zip(cands, told[i : i + popsize]):
                self.ng.tell(cand, value)
            fingerprint = float(vectors.sum())
        expected = float(state["fingerprint"])
        if told and not math.isclose(fingerprint, expected, rel_tol=1e-9, abs_tol=1e-9):
            raise RuntimeError(
                f"replaying {self.name!r} did not reproduce the checkpointed population (fingerprint {fingerprint!r} != "
                f"{expected!r}); the nevergrad version or the config changed since the checkpoint was written"
            )
        self._told = told
        self._fingerprint = fingerprint
        logger.info("%s: replayed %d evaluations from the checkpoint", self.name, len(told))
