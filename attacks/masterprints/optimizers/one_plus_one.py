"""A (1 + lambda) evolution strategy with one-fifth-rule step adaptation, through nevergrad."""

from __future__ import annotations

from typing import Literal

from .base import OPTIMIZERS
from .nevergrad_base import NevergradConfig, NevergradOptimizer


class OnePlusOneConfig(NevergradConfig):
    """
    Attributes:
        mutation: nevergrad's mutation operator (``"gaussian"``, ``"cauchy"``, ``"discrete"``, ...).
    """

    name: Literal["one_plus_one"] = "one_plus_one"
    mutation: Literal["gaussian", "cauchy", "discrete", "fastga", "doublefastga"] = "gaussian"


@OPTIMIZERS.register("one_plus_one")
class OnePlusOne(NevergradOptimizer):
    """nevergrad's ``ParametrizedOnePlusOne``; with ``popsize`` workers it is a (1 + lambda)-ES."""

    name = "one_plus_one"
    config_class = OnePlusOneConfig

    def _make(self, parametrization, popsize: int):
        import nevergrad as ng

        family = ng.optimizers.ParametrizedOnePlusOne(mutation=self.config.mutation)
        return family(parametrization=parametrization, budget=None, num_workers=popsize)
