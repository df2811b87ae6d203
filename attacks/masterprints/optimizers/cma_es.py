"""CMA-ES (the paper's latent variable evolution), started where the search space starts.

The mean starts at the space's own start point (``space.init``: ``init: gray`` is mid-gray, ``uniform``
a noise image, ``normal`` a latent of standard deviation ``init_std``), and the state (mean, step size,
paths, covariance) is checkpointed as tensors, so a resumed run continues without replaying past
generations. Above ``separable_above`` dimensions the covariance is diagonal (sep-CMA): in 12,288 pixel
dimensions the full covariance update took 97 % of the time (``benchmarks/bench_cma_separable.py``).

(Named ``cma_es`` so that it can never shadow the ``cma`` package that nevergrad imports.)
"""

from __future__ import annotations

import logging
import math
from typing import Literal

import torch
from pydantic import Field

from .base import OPTIMIZERS, MasterPrintOptimizer, OptimizerConfig
from .cma_core import CMAES

logger = logging.getLogger(__name__)


class CMAConfig(OptimizerConfig):
    """
    Attributes:
        sigma0: the initial step size in units of the space's ``vector_scale``: in ``vae_latent`` one
            unit of the scaled latent, the paper's ``sigma0 = 1``; in ``pixels`` 0.25 pixel values
            (1 logit with ``squash: sigmoid``); in ``linf_ball`` one ``eps``.
        popsize: candidates per generation, all scored in one model call (``None``: ``4 + 3 ln(dim)``).
        separable_above: spaces with more dimensions than this run sep-CMA (a diagonal covariance, linear
            cost); ``None``: always the full covariance. Default 4,096: the toy VAE latent (1,024), a
            12 x 12 pixel grid (432) and SD's latent at 224 px (3,136, the paper's) stay full; 64 x 64
            pixels (12,288) are separable.
        max_covariance_gib: refuse a full covariance matrix (``dim**2`` float64) larger than this.
    """

    name: Literal["cma"] = "cma"
    sigma0: float = Field(1.0, gt=0)
    popsize: int | None = Field(None, ge=2, le=4096)
    separable_above: int | None = Field(4096, ge=1)
    max_covariance_gib: float = Field(2.0, gt=0)


@OPTIMIZERS.register("cma")
class CMA(MasterPrintOptimizer):
    """CMA-ES: full covariance up to ``separable_above`` dimensions, diagonal (sep-CMA) above."""

    name = "cma"
    config_class = CMAConfig
    needs_gradients = False
    diagonal = False

    def __init__(self, config: CMAConfig, space, objective, runtime) -> None:
        super().__init__(config, space, objective, runtime)
        limit = config.separable_above
        self.separable = self.diagonal or (limit is not None and space.dim > limit)
        gib = space.dim**2 * 8 / 2**30
        if not self.separable and gib > config.max_covariance_gib:
            raise ValueError(
                f"full CMA-ES on {space.dim} dimensions needs a {gib:.1f} GiB covariance matrix (limit "
                f"{config.max_covariance_gib} GiB); use 'diagonal_cma', lower optimizer.separable_above, "
                "a smaller space, or raise optimizer.max_covariance_gib"
            )
        if self.separable and not self.diagonal:
            logger.info(
                "cma: %d dimensions > separable_above=%s: separable (diagonal) CMA-ES", space.dim, limit
            )
        self.popsize = int(config.popsize or 4 + int(3 * math.log(space.dim)))
        start = space.init(1, self.generator("init"))  # (1, *shape): the space's start point
        mean = space.to_vectors(start)[0]  # (dim,)
        self.es = CMAES(mean, config.sigma0, self.popsize, separable=self.separable)

    def _step(self) -> tuple[torch.Tensor, torch.Tensor]:
        vectors = self.es.ask(self.generator("generation", self.es.generation))  # (pop, dim) float64
        params = self.space.from_vectors(vectors)  # (pop, *shape)
        with torch.no_grad():
            losses = self.objective.loss(self.space.decode(params)).float().cpu()  # (pop,): ONE model call
        self.es.tell(vectors, losses.double())
        return params, losses

    def _state(self) -> dict[str, torch.Tensor]:
        state = {f"es.{k}": v for k, v in self.es.state().items()}
        state["popsize"] = torch.tensor(self.popsize, dtype=torch.int64)
        state["separable"] = torch.tensor(int(self.separable), dtype=torch.int64)
        return state

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        if "es.mean" not in state:
            raise ValueError(
                "the checkpoint holds no CMA-ES state (written by the earlier replay-based CMA); start a new run"
            )
        if int(state["popsize"]) != self.popsize or bool(int(state["separable"])) != self.separable:
            raise ValueError(
                f"checkpoint was written with popsize {int(state['popsize'])}, separable "
                f"{bool(int(state['separable']))}; this run has {self.popsize}, {self.separable}"
            )
        self.es.load_state({k[3:]: v for k, v in state.items() if k.startswith("es.")})
        logger.info("%s: restored generation %d from the checkpoint", self.name, self.es.generation)

    def describe(self) -> dict:
        return {**super().describe(), "separable": self.separable, "popsize_resolved": self.popsize}
