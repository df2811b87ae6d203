"""Named entities: invented names, each a fixed, distinctive two-part emblem.

Entities are bucketed by how often the toy generator sees them in training: ``frequent`` (in the
training captions often), ``rare`` (seldom) and ``unseen`` (never; only in the knowledge base).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from .vocab import COLOR_NAMES, ENTITY_NAMES, SHAPES, TEXTURES

BUCKETS: dict[str, tuple[str, ...]] = {
    "frequent": ENTITY_NAMES[:16],
    "rare": ENTITY_NAMES[16:24],
    "unseen": ENTITY_NAMES[24:],
}
# Relative frequency of a training scene object being an entity of each bucket.
BUCKET_WEIGHT: dict[str, float] = {"frequent": 1.0, "rare": 0.04, "unseen": 0.0}


@dataclass(frozen=True)
class EntityDesign:
    name: str
    outer_shape: str
    outer_color: str
    outer_texture: str
    inner_shape: str
    inner_color: str
    inner_scale: float = 0.5

    def describe(self) -> str:
        tex = "" if self.outer_texture == "plain" else f"{self.outer_texture} "
        return f"a {tex}{self.outer_color} {self.outer_shape} with a {self.inner_color} {self.inner_shape} inside"


OUTER_SHAPES: tuple[str, ...] = ("circle", "square", "diamond", "star", "cross", "triangle")


def _draw_design(rng: np.random.Generator, name: str, used: set[tuple[str, str, str]]) -> EntityDesign:
    """Draw designs until one is allowed (inner colour differs from the outer one; thin outer shapes hold
    only a circle) and its (outer shape, outer colour, inner shape) is not in ``used``; add it there."""
    while True:
        os_ = OUTER_SHAPES[rng.integers(len(OUTER_SHAPES))]
        oc = COLOR_NAMES[rng.integers(len(COLOR_NAMES))]
        is_ = SHAPES[rng.integers(len(SHAPES))]
        ic = COLOR_NAMES[rng.integers(len(COLOR_NAMES))]
        tex = TEXTURES[rng.integers(len(TEXTURES))]
        if ic == oc or (os_, oc, is_) in used or os_ in ("star", "cross", "triangle") and is_ != "circle":
            continue
        used.add((os_, oc, is_))
        scale = 0.45 if os_ in ("circle", "square") else 0.35
        return EntityDesign(name, os_, oc, tex, is_, ic, scale)


@cache
def _designs() -> dict[str, EntityDesign]:
    rng = np.random.default_rng(20261128)
    used: set[tuple[str, str, str]] = set()
    return {name: _draw_design(rng, name, used) for name in ENTITY_NAMES}


@cache
def _named_triples() -> frozenset[tuple[str, str, str]]:
    return frozenset((d.outer_shape, d.outer_color, d.inner_shape) for d in _designs().values())


def random_design(rng: np.random.Generator) -> EntityDesign:
    """An anonymous emblem design (name ``""``) drawn by the catalogue's rules, never one of the named
    entities' designs (no shared outer shape + outer colour + inner shape): training data that teaches a
    generator to copy a design from retrieved images without ever showing it a named entity's design."""
    return _draw_design(rng, "", set(_named_triples()))


def entity_design(name: str) -> EntityDesign:
    try:
        return _designs()[name]
    except KeyError:
        raise KeyError(f"unknown entity {name!r}; known: {', '.join(ENTITY_NAMES)}") from None


def entity_bucket(name: str) -> str:
    for bucket, names in BUCKETS.items():
        if name in names:
            return bucket
    raise KeyError(f"unknown entity {name!r}")
