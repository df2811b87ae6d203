"""Diagonal CMA-ES (sep-CMA) at any dimension: linear cost in the dimension, for large spaces."""

from __future__ import annotations

from typing import Literal

from .base import OPTIMIZERS
from .cma_es import CMA, CMAConfig


class DiagonalCMAConfig(CMAConfig):
    name: Literal["diagonal_cma"] = "diagonal_cma"  # type: ignore[assignment]


@OPTIMIZERS.register("diagonal_cma")
class DiagonalCMA(CMA):
    """CMA-ES with a diagonal covariance (sep-CMA) whatever the dimension."""

    name = "diagonal_cma"
    config_class = DiagonalCMAConfig
    diagonal = True
