"""The experiment registry: ``workbench run CONFIG`` dispatches on the config's ``experiment`` field.

An experiment is a function ``run(ctx: RunContext, cfg: MyConfig) -> None`` registered with its config
class. Packages register theirs when their plugin module is imported (:mod:`workbench.plugins`);
:func:`get_experiment` loads the plugins first.

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

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.config import EXPERIMENT_CONFIGS, ExperimentConfig
from workbench.plugins import load_plugins
from workbench.registry import Registry

if TYPE_CHECKING:
    from workbench.runs import RunContext

__all__ = [
    "EXPERIMENTS",
    "ExperimentSpec",
    "declare_experiment",
    "get_experiment",
    "load_experiment_modules",
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


def register_experiment(name: str, config: type[ExperimentConfig], description: str | None = None):
    """Decorator registering ``run(ctx, cfg)`` as experiment ``name`` with config class ``config``."""
    if not (isinstance(config, type) and issubclass(config, ExperimentConfig)):
        raise TypeError(f"experiment {name!r}: config must be an ExperimentConfig subclass, got {config!r}")

    def decorator(fn: Callable[[RunContext, Any], None]) -> Callable[[RunContext, Any], None]:
        doc = description if description is not None else (fn.__doc__ or "").strip().split("\n")[0]
        EXPERIMENTS.add(name, ExperimentSpec(name=name, config=config, run=fn, description=doc))
        EXPERIMENT_CONFIGS.add(name, config)
        return fn

    return decorator


def declare_experiment(name: str, module: str) -> None:
    """Declare experiment ``name`` as registered by ``module`` (imported when the experiment is first
    used), so listing experiments and validating other configs import nothing heavy."""
    EXPERIMENTS.add_lazy(name, module)
    EXPERIMENT_CONFIGS.add_lazy(name, module)


def load_experiment_modules() -> list[str]:
    """Load every plugin (which registers its experiments); returns the plugins' names."""
    return load_plugins()


def get_experiment(name: str) -> ExperimentSpec:
    """The registered experiment ``name`` (after importing every experiment module)."""
    load_experiment_modules()
    return EXPERIMENTS.get(name)
