"""Package names imported on first use (PEP 562), so importing a package's light modules (its CLI, its
registry) does not load torch and diffusers.

Example:
    >>> __getattr__, __dir__ = lazy_exports("json", {"dumps": "json"}, ["loads"])
    >>> __getattr__("dumps")([1])
    '[1]'
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: dict[str, str], names: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each name of ``exports`` is imported from its module
    on first access; ``names`` are further names ``dir()`` lists (the package's ``__all__``)."""
    listed = sorted(set(exports) | set(names))

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        module = sys.modules.get(package)
        return sorted(set(vars(module) if module is not None else ()) | set(listed))

    return __getattr__, __dir__
