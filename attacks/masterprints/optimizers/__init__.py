"""Mining optimisers, registered by name in :data:`OPTIMIZERS` (duplicate names are refused).

Gradient: ``adam``, ``sgd``, ``pgd``. Black-box (one batched model call per population): ``cma`` and
``diagonal_cma`` (CMA-ES with its state in tensors, :mod:`.cma_core`), ``one_plus_one`` (nevergrad ask /
tell). Every optimiser resumes from its ``state_dict``.
"""

from .adam import Adam, AdamConfig
from .base import OPTIMIZERS, MasterPrintOptimizer, OptimizerConfig, StepRecord, build_optimizer
from .cma_es import CMA, CMAConfig
from .diagonal_cma import DiagonalCMA, DiagonalCMAConfig
from .gradient import GradientConfig, GradientOptimizer
from .nevergrad_base import NevergradConfig, NevergradOptimizer
from .one_plus_one import OnePlusOne, OnePlusOneConfig
from .pgd import PGD, PGDConfig
from .sgd import SGD, SGDConfig

__all__ = [
    "CMA",
    "OPTIMIZERS",
    "PGD",
    "SGD",
    "Adam",
    "AdamConfig",
    "CMAConfig",
    "DiagonalCMA",
    "DiagonalCMAConfig",
    "GradientConfig",
    "GradientOptimizer",
    "MasterPrintOptimizer",
    "NevergradConfig",
    "NevergradOptimizer",
    "OnePlusOne",
    "OnePlusOneConfig",
    "OptimizerConfig",
    "PGDConfig",
    "SGDConfig",
    "StepRecord",
    "build_optimizer",
]
