"""CMA-ES through nevergrad (the paper's latent variable evolution: sigma0 = 1).

(Named ``cma_es`` so that it can never shadow the ``cma`` package that nevergrad imports.)
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import OPTIMIZERS
from .nevergrad_base import NevergradConfig, NevergradOptimizer


class CMAConfig(NevergradConfig):
    """
    Attributes:
        sigma0: the initial step size, in units of the space's ``vector_scale`` (the paper: 1).
        elitist: keep the best point in the population ((mu + lambda) selection).
        max_covariance_gib: refuse spaces whose full covariance matrix (``dim**2`` float64) would be
            larger than this; use ``diagonal_cma`` or a smaller space there.
    """

    name: Literal["cma"] = "cma"
    sigma0: float = Field(1.0, gt=0)
    elitist: bool = False
    max_covariance_gib: float = Field(2.0, gt=0)


@OPTIMIZERS.register("cma")
class CMA(NevergradOptimizer):
    """Full-covariance CMA-ES (pycma behind nevergrad's ``ParametrizedCMA``)."""

    name = "cma"
    config_class = CMAConfig
    diagonal = False

    def __init__(self, config: CMAConfig, space, objective, runtime) -> None:
        gib = space.dim**2 * 8 / 2**30
        if not self.diagonal and gib > config.max_covariance_gib:
            raise ValueError(
                f"full CMA-ES on {space.dim} dimensions needs a {gib:.1f} GiB covariance matrix (limit "
                f"{config.max_covariance_gib} GiB); use 'diagonal_cma', a smaller space (pixels with a lower param_size, "
                "or vae_latent), or raise optimizer.max_covariance_gib"
            )
        super().__init__(config, space, objective, runtime)

    def _make(self, parametrization, popsize: int):
        import nevergrad as ng

        family = ng.optimizers.ParametrizedCMA(
            scale=self.config.sigma0, popsize=popsize, elitist=self.config.elitist, diagonal=self.diagonal
        )
        return family(parametrization=parametrization, budget=None, num_workers=popsize)
