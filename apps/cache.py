"""A small thread-safe LRU cache bounded by count, for the demos' loaded models and per-visitor jobs.

A demo server lives for days; every distinct model a client asks for would otherwise stay in memory
for good. :class:`LRUCache` keeps the ``max_items`` most recently used entries and drops the rest
(their memory is freed once no running request holds them). Key models by their *resolved* source
(:func:`apps.models.resolve_demo_model`) so that spellings of one folder share one copy.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["CACHED_MODELS_ENV", "LRUCache", "cached_models"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

CACHED_MODELS_ENV = "WORKBENCH_DEMO_CACHED_MODELS"
DEFAULT_CACHED_MODELS = 2


def cached_models() -> int:
    """How many models each demo keeps loaded: ``$WORKBENCH_DEMO_CACHED_MODELS`` (1..16) or 2."""
    raw = os.environ.get(CACHED_MODELS_ENV, "").strip()
    try:
        count = int(raw) if raw else DEFAULT_CACHED_MODELS
    except ValueError:
        count = DEFAULT_CACHED_MODELS
    return min(max(count, 1), 16)


class LRUCache(Generic[K, V]):
    """``key -> value``, at most ``max_items`` entries, least recently used dropped first.

    Args:
        max_items: the bound (an int, or a callable read at each insertion, e.g. :func:`cached_models`).
        name: what the cache holds, for messages.

    :meth:`get_or_create` builds a missing value while holding the cache's lock, so concurrent requests
    for one key build it once (the demos run one model job at a time anyway).
    """

    def __init__(self, max_items: int | Callable[[], int], name: str = "cache") -> None:
        self._max = max_items
        self.name = name
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.RLock()

    @property
    def max_items(self) -> int:
        return max(1, int(self._max() if callable(self._max) else self._max))

    def get_or_create(self, key: K, create: Callable[[], V]) -> V:
        """The value of ``key``, built by ``create()`` (and cached) when missing."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            value = create()
            self._put(key, value)
            return value

    def get(self, key: K, default: V | None = None) -> V | None:
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key]

    def __setitem__(self, key: K, value: V) -> None:
        with self._lock:
            self._put(key, value)

    def __getitem__(self, key: K) -> V:
        with self._lock:
            self._items.move_to_end(key)
            return self._items[key]

    def _put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def keys(self) -> list[K]:
        """The keys, least recently used first."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
