"""The study's text queries and the toy scenes that fill the knowledge base beside the entity catalogue.

Queries are of two kinds: entity queries (``"a zorvik emblem"``, ``"a zorvik emblem on the left"``) and
class queries (``"a red circle"``). Each seed splits the entities and the classes in two: the master images
are mined on the first half's queries, and hijacking is measured on the second half's (held out), so a
master image is credited only with queries it was never optimised for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generators.retrieval.sources import KBItem
from toyworld.vocab import COLOR_NAMES, ENTITY_NAMES, SHAPES
from toyworld.world import ShapesWorld

__all__ = ["PHRASES", "Query", "QuerySplit", "ToySceneSource", "entity_queries", "split_queries"]

PHRASES: tuple[str, ...] = ("", "on the left", "on the right", "at the top", "at the bottom", "in the center")


@dataclass(frozen=True)
class Query:
    """A text query and what a correct neighbour shows: ``kind`` ``entity`` (``target`` an entity name)
    or ``class`` (``target`` ``"red circle"``)."""

    text: str
    kind: str
    target: str


@dataclass(frozen=True)
class QuerySplit:
    """``mined``: the queries the master images are optimised on; ``heldout``: the others."""

    mined: list[Query]
    heldout: list[Query]


def entity_queries(entity: str) -> list[Query]:
    """The entity's queries: its name alone and at each position phrase of :data:`PHRASES`."""
    return [Query(f"a {entity} emblem {p}".strip(), "entity", entity) for p in PHRASES]


def class_queries(color: str, shape: str) -> list[Query]:
    article = "an" if color[0] in "aeiou" else "a"
    return [Query(f"{article} {color} {shape}", "class", f"{color} {shape}")]


def split_queries(seed: int, fraction: float = 0.5) -> QuerySplit:
    """Entities and colour-shape classes shuffled by ``seed``, the first ``fraction`` of each mined on."""
    rng = np.random.default_rng([seed, 2028])
    entities = [ENTITY_NAMES[i] for i in rng.permutation(len(ENTITY_NAMES))]
    classes = [
        (COLOR_NAMES[i // len(SHAPES)], SHAPES[i % len(SHAPES)])
        for i in range(len(COLOR_NAMES) * len(SHAPES))
    ]
    classes = [classes[i] for i in rng.permutation(len(classes))]
    ne, nc = round(len(entities) * fraction), round(len(classes) * fraction)
    mined = [q for e in entities[:ne] for q in entity_queries(e)] + [
        q for c in classes[:nc] for q in class_queries(*c)
    ]
    held = [q for e in entities[ne:] for q in entity_queries(e)] + [
        q for c in classes[nc:] for q in class_queries(*c)
    ]
    return QuerySplit(mined, held)


class ToySceneSource:
    """Toy-world scenes (1-4 objects) as knowledge-base items: their caption and, in ``meta["classes"]``,
    the ``"colour shape"`` of every object (what a class query's correct neighbour shows).

    Args:
        count: scenes.
        seed: the world seed (scenes of the ``test`` split, disjoint from the judge's and CLIP's training).
        image_size: rendered side.
    """

    def __init__(self, count: int, seed: int = 0, image_size: int = 64) -> None:
        if count < 0:
            raise ValueError(f"scenes must be >= 0, got {count}")
        self.count, self.seed = int(count), int(seed)
        self.world = ShapesWorld(image_size)
        self.source_id = f"toy-scenes:count={self.count}:seed={self.seed}:size={image_size}"

    def __len__(self) -> int:
        return self.count

    def item(self, index: int) -> KBItem:
        if not 0 <= index < self.count:
            raise IndexError(f"scene {index} out of range for {self.count} scenes")
        batch = self.world.batch(seed=self.seed, split="test", start=index, count=1)
        scene = batch.scenes[0]
        classes = sorted(
            {f"{o.color} {o.shape}" for o in scene.objects if getattr(o, "entity", None) is None}
        )
        return KBItem(text=scene.caption(), image=batch.images[0], meta={"kind": "scene", "classes": classes})


class MasterSource:
    """Master images as knowledge-base items (what an attacker uploads), image ``j`` captioned
    ``captions[j]`` (distinct captions: the base's near-duplicate filter skips an entry only when both its
    image and its caption embeddings match an existing one's) and marked ``meta["master"] = True`` so that
    the study can tell them apart (retrieval never reads it)."""

    def __init__(self, images, captions: list[str], tag: str) -> None:
        if len(captions) < images.shape[0]:
            raise ValueError(f"{images.shape[0]} master images need as many captions, got {len(captions)}")
        self.images = images  # (k, 3, S, S)
        self.captions = list(captions)
        self.source_id = f"masters:{tag}"

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def item(self, index: int) -> KBItem:
        return KBItem(
            text=self.captions[index], image=self.images[index], meta={"kind": "master", "master": True}
        )
