"""One discovery mechanism: a package adds to the workbench by naming one plugin module.

Importing a plugin module registers what its package adds: experiments, ``workbench`` sub-commands,
demos, tour steps, toy trainers, model presets, generators, image attacks, metrics. Plugins are found
two ways, both read by :func:`load_plugins`:

- **Entry points** (the Python packaging way): in a package's ``pyproject.toml``::

      [project.entry-points."workbench.plugins"]
      mypkg = "mypkg.plugin"

  This repository declares its own packages the same way, so a third-party package installed beside
  it is found exactly as the built-in ones are, with no file here edited.
- **``$WORKBENCH_PLUGINS``**: module names or ``.py`` file paths separated by ``os.pathsep``
  (``:``), for a method in a single file that is not installed, e.g.
  ``WORKBENCH_PLUGINS=~/my_generator.py workbench run my.yaml``.

Loading is idempotent; a plugin that fails to import raises :class:`PluginError` naming it.

Example:
    >>> names = load_plugins()
    >>> "toyworld.plugin" in names and "generators.plugin" in names
    True
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

__all__ = ["ENV_VAR", "GROUP", "PluginError", "load_plugins", "plugin_specs"]

GROUP = "workbench.plugins"
ENV_VAR = "WORKBENCH_PLUGINS"
_LOADED: dict[str, ModuleType] = {}
_LOCK = threading.RLock()


class PluginError(ImportError):
    """A plugin named by an entry point or ``$WORKBENCH_PLUGINS`` could not be imported."""


def plugin_specs() -> list[str]:
    """The plugin modules to load: entry points of group ``workbench.plugins`` (sorted by name), then
    ``$WORKBENCH_PLUGINS``."""
    specs = [ep.value for ep in sorted(entry_points(group=GROUP), key=lambda ep: ep.name)]
    specs += [s.strip() for s in os.environ.get(ENV_VAR, "").split(os.pathsep) if s.strip()]
    return list(dict.fromkeys(specs))


def _import_file(path: Path) -> ModuleType:
    """Import a plugin given as a ``.py`` file under a module name derived from its path."""
    name = "workbench_plugin_" + "".join(c if c.isalnum() else "_" for c in path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin file {path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _import(spec: str) -> ModuleType:
    if spec.endswith(".py"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise PluginError(f"plugin file {spec!r} ({ENV_VAR}) does not exist; give an existing .py file")
        return _import_file(path.resolve())
    module, _, attr = spec.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attr) if attr else loaded


def load_plugins() -> list[str]:
    """Import every plugin not yet imported; returns all loaded plugin names, in load order.

    Raises:
        PluginError: a plugin does not exist or raised while importing (the cause is chained).
    """
    with _LOCK:
        for spec in plugin_specs():
            if spec in _LOADED:
                continue
            try:
                _LOADED[spec] = _import(spec)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin {spec!r} failed to import: {type(exc).__name__}: {exc}") from exc
        return list(_LOADED)
