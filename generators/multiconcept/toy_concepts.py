"""The toy world's concept benchmark: distinctive objects (shape + colour + texture, or a named entity),
one reference image each, composed in pairs and triples into target prompts.

Example:
    >>> import numpy as np
    >>> comps = sample_compositions(np.random.default_rng(0), count=2, size=2)
    >>> len(comps[0].concepts), comps[0].prompt.count(" and ")
    (2, 1)
    >>> ref, mask = comps[0].concepts[0].render(64)
    >>> tuple(ref.shape), bool(mask.any())
    ((3, 64, 64), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from toyworld.entities import BUCKETS, entity_design
from toyworld.scene import ObjectSpec, Scene
from toyworld.vocab import BACKGROUND, COLOR_NAMES, ENTITY_NAMES, SHAPES, SIZES, TEXTURES
from toyworld.world import ShapesWorld, cell_box

__all__ = ["Composition", "LAYOUTS", "ToyConcept", "concept_pool", "sample_compositions"]

CENTER_CELL = 4
# Grid cells (row-major 3x3, see toyworld.vocab.POSITIONS) a composition of 2 or 3 places objects in.
LAYOUTS: dict[int, list[tuple[int, ...]]] = {
    2: [(3, 5), (1, 7), (0, 8), (2, 6), (3, 2), (6, 5)],
    3: [(3, 4, 5), (1, 4, 7), (0, 4, 8), (6, 4, 2), (3, 1, 5), (3, 7, 5)],
}


@dataclass(frozen=True)
class ToyConcept:
    """A distinctive toy object. ``entity`` is set for named entities (their design fixes shape, colour
    and texture). ``words`` is how prompts name it: ``"full"`` (every attribute, or the entity's name) or
    ``"class"`` (its class only, ``"a large circle"``, ``"an emblem"``: what only its reference image shows
    is left out, as a user names their own object ``"a dog"``)."""

    shape: str
    color: str
    texture: str = "plain"
    entity: str | None = None
    words: Literal["full", "class"] = "full"

    @classmethod
    def from_entity(cls, name: str, words: Literal["full", "class"] = "full") -> ToyConcept:
        d = entity_design(name)
        return cls(d.outer_shape, d.outer_color, d.outer_texture, entity=name, words=words)

    def spec(self, cell: int = CENTER_CELL) -> ObjectSpec:
        """The object, large, in grid cell ``cell`` (no jitter)."""
        return ObjectSpec(
            self.shape, self.color, "large", self.texture, cell_box(cell, SIZES["large"], None), self.entity
        )

    @property
    def prompt(self) -> str:
        """The concept prompt: ``"a large striped red circle"`` or ``"a zorvik emblem"`` (``"a large circle"``,
        ``"an emblem"`` with class words)."""
        spec = self.spec()
        return (
            spec.phrase(with_position=False)
            if self.words == "full"
            else spec.class_phrase(with_position=False)
        )

    @property
    def name(self) -> str:
        return self.entity or f"{self.texture} {self.color} {self.shape}".replace("plain ", "")

    def render(self, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
        """The reference: the object alone in the centre on the world's background.

        Returns:
            ``(image (3, size, size) in [0, 1], mask (size, size) bool)``.
        """
        batch = ShapesWorld(size).render([Scene(objects=(self.spec(),), background=BACKGROUND)])
        return batch.images[0], batch.masks[0] == 1


@dataclass(frozen=True)
class Composition:
    """Concepts placed in grid cells; ``prompt`` is the world's caption of that scene."""

    concepts: tuple[ToyConcept, ...]
    cells: tuple[int, ...]

    @property
    def scene(self) -> Scene:
        return Scene(
            objects=tuple(c.spec(cell) for c, cell in zip(self.concepts, self.cells)), background=BACKGROUND
        )

    @property
    def prompt(self) -> str:
        """``"a large striped red circle on the left and a large blue star on the right"`` (``"a large circle
        on the left and an emblem on the right"`` when the concepts are named by class words)."""
        return self.scene.caption(words=self.concepts[0].words)

    @property
    def boxes(self) -> list[tuple[float, float, float, float]]:
        """Each concept's box, normalised xyxy (the layout the prompt asks for)."""
        return self.scene.boxes


def concept_pool(entities: bool = True, words: Literal["full", "class"] = "full") -> list[ToyConcept]:
    """Every large object (shape x colour x texture) and, with ``entities``, every named entity."""
    pool = [ToyConcept(s, c, t, words=words) for s in SHAPES for c in COLOR_NAMES for t in TEXTURES]
    if entities:
        pool += [ToyConcept.from_entity(n, words) for n in ENTITY_NAMES]
    return pool


def sample_compositions(
    rng: np.random.Generator,
    count: int,
    size: int,
    entity_prob: float = 0.25,
    entity_buckets: Sequence[str] | None = None,
    words: Literal["full", "class"] = "full",
) -> list[Composition]:
    """``count`` compositions of ``size`` (2 or 3) concepts with pairwise different shapes and colours (so
    the judge can tell them apart), each concept a named entity with probability ``entity_prob``.

    Args:
        entity_buckets: the buckets named entities are drawn from (``frequent``, ``rare``, ``unseen``: how
            often the toy generators saw their names in training); ``None``: every entity.
        words: how the prompts name the concepts (see :class:`ToyConcept`); the draws do not depend on it.

    Deterministic for a given ``rng`` state.
    """
    if size not in LAYOUTS:
        raise ValueError(f"compositions have {' or '.join(map(str, LAYOUTS))} concepts, asked for {size}")
    unknown = sorted(set(entity_buckets or ()) - set(BUCKETS))
    if unknown or (entity_buckets is not None and not entity_buckets):
        raise ValueError(f"entity_buckets must name some of {', '.join(BUCKETS)}, got {list(entity_buckets)}")
    names = ENTITY_NAMES if entity_buckets is None else [n for b in entity_buckets for n in BUCKETS[b]]
    if words not in ("full", "class"):
        raise ValueError(f"words must be 'full' or 'class', got {words!r}")
    objects = concept_pool(entities=False, words=words)
    entities = [ToyConcept.from_entity(n, words) for n in names]
    out: list[Composition] = []
    while len(out) < count:
        chosen: list[ToyConcept] = []
        for _ in range(100 * size):
            if len(chosen) == size:
                break
            source = entities if rng.random() < entity_prob else objects
            c = source[int(rng.integers(len(source)))]
            if all(c.shape != o.shape and c.color != o.color for o in chosen):
                chosen.append(c)
        if len(chosen) < size:  # pragma: no cover - the pool is far larger than needed
            continue
        layout = LAYOUTS[size][int(rng.integers(len(LAYOUTS[size])))]
        out.append(Composition(tuple(chosen), layout))
    return out
