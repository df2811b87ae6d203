"""``workbench`` sub-commands that packages add: each registers ``add(subparsers)`` under a name; the
CLI calls every one when it builds its parser (after :func:`workbench.plugins.load_plugins`).

Example:
    >>> import argparse
    >>> @register_commands("hello-doc")
    ... def add(subparsers):
    ...     subparsers.add_parser("hello-doc").set_defaults(func=lambda args: 0)
    >>> parser = argparse.ArgumentParser()
    >>> COMMANDS.get("hello-doc")(parser.add_subparsers())
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from workbench.registry import Registry

__all__ = ["COMMANDS", "CommandAdder", "register_commands"]

CommandAdder = Callable[[argparse._SubParsersAction], None]
COMMANDS: Registry[CommandAdder] = Registry("command group")


def register_commands(name: str) -> Callable[[CommandAdder], CommandAdder]:
    """Decorator registering ``add(subparsers)`` (adds one or more sub-commands) as group ``name``."""
    return COMMANDS.register(name)
