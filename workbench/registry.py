"""Name -> class registries that refuse duplicate names (nevergrad's ``Registry`` habit).

A name can also be declared lazily (:meth:`Registry.add_lazy`) with the module that defines it: listing
and membership then cost no import, and the module is imported on the first :meth:`Registry.get`
(where its own decorator fills the entry). Plugins declare their heavy entries this way, so that
``workbench --help`` imports neither torch nor diffusers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class _Lazy:
    """A declared entry: ``"package.module"`` (which registers the name when imported) or
    ``"package.module:attribute"`` (the object itself)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __repr__(self) -> str:
        return f"<declared in {self.target}>"


class Registry(Generic[T]):
    """A mapping from names to objects, filled with a decorator.

    Example:
        >>> ATTACKS = Registry("attack")
        >>> @ATTACKS.register("jpeg")
        ... class Jpeg: ...
        >>> ATTACKS.get("jpeg").__name__
        'Jpeg'
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            key = name or getattr(obj, "name", None) or obj.__name__  # type: ignore[attr-defined]
            self.add(key, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.kind} needs a non-empty string name, got {name!r}")
        if isinstance(self._items.get(name), _Lazy) and not isinstance(obj, _Lazy):
            self._items[name] = obj  # the declared module registers its entry
            return
        if isinstance(obj, _Lazy) and name in self._items and not isinstance(self._items[name], _Lazy):
            return  # declared after its module was imported: already there
        if name in self._items:
            raise KeyError(
                f"{self.kind} {name!r} is already registered ({self._items[name]!r}); pick another name"
            )
        self._items[name] = obj

    def add_lazy(self, name: str, target: str) -> None:
        """Declare ``name`` as defined in ``target`` (``"module"`` or ``"module:attribute"``), imported
        on the first :meth:`get`."""
        self.add(name, _Lazy(target))  # type: ignore[arg-type]

    def get(self, name: str) -> T:
        try:
            item = self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}") from None
        if isinstance(item, _Lazy):
            module, _, attribute = item.target.partition(":")
            loaded = importlib.import_module(module)
            if attribute:
                self._items[name] = getattr(loaded, attribute)
            elif isinstance(self._items[name], _Lazy):
                raise KeyError(f"{self.kind} {name!r}: module {module} was imported but did not register it")
            return self._items[name]
        return item

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
