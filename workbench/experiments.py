"""The experiment registry: ``workbench run CONFIG`` dispatches on the config's ``experiment`` field.

An experiment is a function ``run(ctx: RunContext, cfg: MyConfig) -> None`` registered with its config
class. Packages register theirs when their ``experiment`` module is imported; :func:`load_experiment_modules`
imports every such module that exists (a module that exists but fails to import raises).

Example:
    >>> from workbench.config import ExperimentConfig
    >>> class HelloConfig(ExperimentConfig):
    ...     greeting: str = "hello"
    >>> @register_experiment("hello-doc", config=HelloConfig)
    ... def run(ctx, cfg):
    ...     ctx.logger.info(cfg.greeting)
    >>> EXPERIMENTS.get("hello-doc").config.__name__
    'HelloConfig'
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.config import ExperimentConfig
from workbench.registry import Registry

if TYPE_CHECKING:
    from workbench.runs import RunContext

__all__ = [
    "EXPERIMENTS",
    "EXPERIMENT_MODULES",
    "ExperimentSpec",
    "get_experiment",
    "load_experiment_modules",
    "module_exists",
    "register_experiment",
]


@dataclass(frozen=True)
class ExperimentSpec:
    """A registered experiment: its name, config class, run function and one-line description."""

    name: str
    config: type[ExperimentConfig]
    run: Callable[[RunContext, Any], None]
    description: str = ""


EXPERIMENTS: Registry[ExperimentSpec] = Registry("experiment")

# Modules that register experiments when imported; ``pkg.*.mod`` means every sub-package of ``pkg``.
EXPERIMENT_MODULES: list[str] = [
    "workbench.experiments_builtin.smoke",
    "workbench.experiments_builtin.tour",
    "workbench.toy.experiment",
    "metrics.experiment",
    "attacks.masterprints.experiment",
    "attacks.watermarks.experiment",
    "generators.*.experiment",
]


def register_experiment(name: str, config: type[ExperimentConfig], description: str | None = None):
    """Decorator registering ``run(ctx, cfg)`` as experiment ``name`` with config class ``config``."""
    if not (isinstance(config, type) and issubclass(config, ExperimentConfig)):
        raise TypeError(f"experiment {name!r}: config must be an ExperimentConfig subclass, got {config!r}")

    def decorator(fn: Callable[[RunContext, Any], None]) -> Callable[[RunContext, Any], None]:
        doc = description if description is not None else (fn.__doc__ or "").strip().split("\n")[0]
        EXPERIMENTS.add(name, ExperimentSpec(name=name, config=config, run=fn, description=doc))
        return fn

    return decorator


def module_exists(name: str) -> bool:
    """Whether module ``name`` exists, without hiding errors raised while importing its parents: only a
    missing module (or a missing parent package) gives ``False``."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if name == missing or name.startswith(missing + "."):
            return False
        raise


def expand_module_patterns(patterns: list[str]) -> list[str]:
    """Expand ``pkg.*.mod`` into ``pkg.<sub>.mod`` for every sub-package ``<sub>`` of ``pkg``."""
    names: list[str] = []
    for pattern in patterns:
        if ".*." not in pattern:
            names.append(pattern)
            continue
        package, leaf = pattern.split(".*.", 1)
        if not module_exists(package):
            continue
        pkg = importlib.import_module(package)
        for info in sorted(pkgutil.iter_modules(getattr(pkg, "__path__", [])), key=lambda i: i.name):
            if info.ispkg:
                names.append(f"{package}.{info.name}.{leaf}")
    return names


def import_existing(patterns: list[str]) -> list[str]:
    """Import every module of ``patterns`` that exists; returns the imported names."""
    imported = []
    for name in expand_module_patterns(patterns):
        if module_exists(name):
            importlib.import_module(name)
            imported.append(name)
    return imported


def load_experiment_modules() -> list[str]:
    """Import every module of :data:`EXPERIMENT_MODULES` that exists (idempotent)."""
    return import_existing(EXPERIMENT_MODULES)


def get_experiment(name: str) -> ExperimentSpec:
    """The registered experiment ``name`` (after importing every experiment module)."""
    load_experiment_modules()
    return EXPERIMENTS.get(name)
