"""Name -> class registries that refuse duplicate names (nevergrad's ``Registry`` habit)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


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
        if name in self._items:
            raise KeyError(
                f"{self.kind} {name!r} is already registered ({self._items[name]!r}); pick another name"
            )
        self._items[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
