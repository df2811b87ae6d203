"""The study's prompts and what each generator needs beyond them.

Per seed, two-object toy scenes: a named entity and a large object, in two grid cells of a two-concept
layout (``"a zorvik emblem on the left and a large striped blue star on the right"``). Every generator
gets the same prompts; its own inputs are derived from them: the layout and region prompts (the shapes
planner), the concepts' reference images and masks (FreeCustom), the entity's neighbours in the knowledge
base and the box the prompt names for it (retrieval).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from generators.layout.planner import ShapesGrammarPlanner
from generators.multiconcept.concept import Concept
from generators.multiconcept.toy_concepts import LAYOUTS, Composition, ToyConcept, concept_pool
from generators.retrieval.boxes import prompt_box
from toyworld.vocab import ENTITY_NAMES

__all__ = ["INPUTS", "StudyScene", "conditions", "study_scenes"]

# what the study builds for a generator's ``requires``
INPUTS = frozenset({"layouts", "region_prompts", "concepts", "neighbours", "target_boxes"})


@dataclass(frozen=True)
class StudyScene:
    """One prompt: its composition (entity first), the prompt and the entity's name."""

    composition: Composition

    @property
    def prompt(self) -> str:
        return self.composition.prompt

    @property
    def entity(self) -> str:
        return self.composition.concepts[0].entity or ""


def study_scenes(seed: int, count: int) -> list[StudyScene]:
    """``count`` scenes drawn by ``seed``: an entity and a large object with a different shape and colour
    (so the judge and the planner tell them apart), in one of the two-concept layouts.

    Example:
        >>> [s.entity for s in study_scenes(0, 2)] == [s.entity for s in study_scenes(0, 2)]
        True
        >>> " and " in study_scenes(1, 1)[0].prompt
        True
    """
    rng = np.random.default_rng([seed, 2042])
    objects = concept_pool(entities=False)
    out = []
    while len(out) < count:
        entity = ToyConcept.from_entity(ENTITY_NAMES[int(rng.integers(len(ENTITY_NAMES)))])
        other = objects[int(rng.integers(len(objects)))]
        if other.shape == entity.shape or other.color == entity.color:
            continue
        cells = LAYOUTS[2][int(rng.integers(len(LAYOUTS[2])))]
        out.append(StudyScene(Composition((entity, other), cells)))
    return out


def conditions(
    requires: tuple[str, ...], scenes: list[StudyScene], size: int, neighbours: list[Any] | None = None
) -> dict[str, list[Any]]:
    """The request conditions a generator ``requires`` for ``scenes`` (one item per scene).

    Args:
        requires: the generator's ``requires`` (a subset of :data:`INPUTS`).
        size: the generated side in pixels (the concepts' references are rendered at it).
        neighbours: each scene's retrieved neighbours (needed for ``neighbours``).

    Raises:
        ValueError: an input the study cannot build.
    """
    unknown = sorted(set(requires) - INPUTS)
    if unknown:
        raise ValueError(f"the study cannot build {unknown} for a generator; it builds {sorted(INPUTS)}")
    planner = ShapesGrammarPlanner()
    out: dict[str, list[Any]] = {}
    if "layouts" in requires:
        out["layouts"] = [planner.plan(s.prompt) for s in scenes]
    if "region_prompts" in requires:
        out["region_prompts"] = [planner.region_prompts(s.prompt) for s in scenes]
    if "concepts" in requires:
        concepts = []
        for s in scenes:
            refs = [(c, *c.render(size)) for c in s.composition.concepts]  # (concept, (3, S, S), (S, S))
            concepts.append([Concept(image, c.prompt, mask) for c, image, mask in refs])
        out["concepts"] = concepts
        out["boxes"] = [s.composition.boxes for s in scenes]
    if "neighbours" in requires:
        if neighbours is None:
            raise ValueError("neighbours are required but none were retrieved")
        out["neighbours"] = list(neighbours)
    if "target_boxes" in requires:
        out["target_boxes"] = [prompt_box(s.prompt, s.entity) for s in scenes]
    return out
