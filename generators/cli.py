"""The generators' ``workbench`` sub-commands: every ``generators.<name>.cli`` module that exists adds
its own through ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil

__all__ = ["cli_modules", "register"]


def cli_modules() -> list[str]:
    """``generators.<name>.cli`` for every sub-package of :mod:`generators` that has a ``cli`` module."""
    import generators
    from workbench.experiments import module_exists

    names = []
    for info in sorted(pkgutil.iter_modules(generators.__path__), key=lambda i: i.name):
        name = f"generators.{info.name}.cli"
        if info.ispkg and module_exists(name):
            names.append(name)
    return names


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add each generator's sub-commands to the ``workbench`` CLI."""
    for name in cli_modules():
        importlib.import_module(name).register(subparsers)
