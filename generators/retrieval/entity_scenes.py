"""Shapes-world scenes that place one named entity among plain objects: the training triples of the
retrieval-conditioned generator and the prompts of the toy EntityDrawBench.

Example:
    >>> import numpy as np
    >>> scene = entity_scene(np.random.default_rng(0), "zorvik", n_others=1)
    >>> scene.objects[0].entity, len(scene.objects)
    ('zorvik', 2)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from toyworld.entities import BUCKET_WEIGHT, BUCKETS, EntityDesign
from toyworld.scene import Scene
from toyworld.vocab import SIZES
from toyworld.world import cell_box, emblem_object, sample_scene

__all__ = ["emblem_view", "entity_scene", "sample_training_entity", "without_name"]


def emblem_view(
    rng: np.random.Generator, entity: str | None = None, design: EntityDesign | None = None, seed: int = 0
) -> Scene:
    """A catalogue view: the emblem alone at a random grid cell on a dark grey background (the knowledge
    base's images of an entity, ``"a zorvik emblem on the left"``)."""
    box = cell_box(int(rng.integers(9)), SIZES["large"], rng)
    tint = float(rng.uniform(0.06, 0.16))
    return Scene(objects=(emblem_object(box, entity, design),), background=(tint, tint, tint), seed=seed)


def entity_scene(
    rng: np.random.Generator, entity: str | None, n_others: int = 0, design: EntityDesign | None = None
) -> Scene:
    """A scene with ``entity`` (large, its fixed design; or an anonymous ``design``) first and ``n_others``
    plain objects, all in distinct grid cells; the caption names the entity: ``"a zorvik emblem on the left
    and a small red circle at the top"`` (``"an emblem on the left ..."`` for a design)."""
    if not 0 <= n_others <= 3:
        raise ValueError(f"n_others must be 0 to 3, got {n_others}")
    base = sample_scene(rng, n_objects=n_others + 1, entity_prob=0.0)
    first = base.objects[0]
    row, col = min(int(first.center[1] * 3), 2), min(int(first.center[0] * 3), 2)
    obj = emblem_object(cell_box(row * 3 + col, SIZES["large"], rng), entity, design)
    return Scene(objects=(obj, *base.objects[1:]), background=base.background, seed=base.seed)


def sample_training_entity(rng: np.random.Generator, entities: Sequence[str] | None = None) -> str:
    """An entity drawn with the toy generator's training frequencies (``BUCKET_WEIGHT``: frequent often,
    rare seldom, unseen never)."""
    pool = [(e, BUCKET_WEIGHT[b]) for b, names in BUCKETS.items() for e in names if BUCKET_WEIGHT[b] > 0]
    if entities is not None:
        allowed = set(entities)
        pool = [(e, w) for e, w in pool if e in allowed]
    if not pool:
        raise ValueError("no training entity: every allowed entity is unseen by the generator")
    weights = np.array([w for _, w in pool], dtype=np.float64)
    return pool[int(rng.choice(len(pool), p=weights / weights.sum()))][0]


def without_name(caption: str, entity: str) -> str:
    """``caption`` with ``entity``'s name left out: ``"a zorvik emblem on the left"`` -> ``"an emblem on the
    left"``; then only retrieved neighbours can say which design to draw."""
    phrase = f"a {entity} emblem"
    if phrase not in caption:
        raise ValueError(f"{caption!r} does not name the entity {entity!r} as {phrase!r}")
    return caption.replace(phrase, "an emblem", 1)
