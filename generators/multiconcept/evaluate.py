"""Scoring of composed images on the toy world: which concepts the judge finds, and crops of each
concept's region for the reference-similarity metrics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from generators.multiconcept.toy_concepts import Composition, ToyConcept

__all__ = [
    "ConceptJudgement",
    "crop_box",
    "judge_composition",
    "judge_prompt",
    "matches",
    "mask_box",
    "prompt_matches",
    "region_crops",
]

Box = tuple[float, float, float, float]


def matches(detection: Any, concept: ToyConcept, attributes: Sequence[str]) -> bool:
    """Whether a judge detection shows ``concept``: its entity name for a named entity, else every
    attribute of ``attributes`` (``"shape"``, ``"color"``, ``"texture"``)."""
    if concept.entity is not None:
        return detection.entity == concept.entity
    return all(getattr(detection, a) == getattr(concept, a) for a in attributes if a != "entity")


@dataclass
class ConceptJudgement:
    """The judge's verdict on one concept of one image: found (attributes), at the prompted position,
    and the matched detection's box (``None`` when not found)."""

    found: bool
    position: bool
    box: Box | None


def judge_composition(
    detections: Sequence[Any], composition: Composition, attributes: Sequence[str]
) -> list[ConceptJudgement]:
    """Match each concept of ``composition`` to a distinct detection (most confident first).

    Args:
        detections: one image's ``Detection`` list (``ShapesJudge.detect(images)[i]``).
        attributes: the attributes a plain object must match.

    Returns:
        One :class:`ConceptJudgement` per concept, in the composition's order.
    """
    hits = _assign(detections, composition, lambda d, concept, spec: matches(d, concept, attributes))
    return [
        ConceptJudgement(False, False, None)
        if hit is None
        else ConceptJudgement(True, hit.position == spec.position, tuple(hit.box))
        for hit, spec in zip(hits, composition.scene.objects)
    ]


def _assign(detections: Sequence[Any], composition: Composition, match) -> list[Any | None]:
    """Each concept of ``composition`` (in order) to the most confident detection not taken yet for which
    ``match(detection, concept, spec)`` holds, ``None`` where none does."""
    free = sorted(detections, key=lambda d: -d.score)
    hits = []
    for concept, spec in zip(composition.concepts, composition.scene.objects):
        hit = next((d for d in free if match(d, concept, spec)), None)
        if hit is not None:
            free.remove(hit)
        hits.append(hit)
    return hits


def prompt_matches(detection: Any, concept: ToyConcept, attributes: Sequence[str]) -> bool:
    """Whether a detection shows what the prompt says of ``concept``: with full words as :func:`matches`;
    with class words a plain object of the concept's shape (``"a large circle"``), or any emblem (``"an
    emblem"``) for a named entity."""
    if concept.words == "full":
        return matches(detection, concept, attributes)
    if concept.entity is not None:
        return detection.entity is not None
    return detection.entity is None and detection.shape == concept.shape


def judge_prompt(detections: Sequence[Any], composition: Composition, attributes: Sequence[str]) -> bool:
    """The judge's reading of the text alone (GenEval-style composition score): every object the target
    prompt names is in the image, each a distinct detection (most confident first) with the attributes the
    prompt names (:func:`prompt_matches`) at the place it names. With class words, it says nothing of the
    references; with full words, it is ``all_found`` at the prompted positions."""
    hits = _assign(
        detections,
        composition,
        lambda d, concept, spec: prompt_matches(d, concept, attributes) and d.position == spec.position,
    )
    return all(hit is not None for hit in hits)


def mask_box(mask: torch.Tensor) -> Box:
    """The normalised xyxy box of a `(H, W)` bool mask."""
    h, w = mask.shape
    ys, xs = mask.nonzero(as_tuple=True)
    return (xs.min().item() / w, ys.min().item() / h, (xs.max().item() + 1) / w, (ys.max().item() + 1) / h)


def crop_box(image: torch.Tensor, box: Box, size: int, margin: float = 0.15) -> torch.Tensor:
    """A square crop around ``box`` (grown by ``margin`` of its side), resized to ``size``.

    Args:
        image (`torch.Tensor` of shape `(3, H, W)`): in [0, 1].
        box: normalised xyxy.

    Returns:
        `torch.Tensor` of shape `(3, size, size)` in [0, 1] (zero padding outside the image).
    """
    _, h, w = image.shape
    cx, cy = (box[0] + box[2]) / 2 * w, (box[1] + box[3]) / 2 * h
    side = max((box[2] - box[0]) * w, (box[3] - box[1]) * h) * (1 + 2 * margin)
    side = max(side, 4.0)
    # affine grid over the square, in the image's [-1, 1] coordinates
    theta = torch.tensor(
        [[side / w, 0.0, 2 * cx / w - 1], [0.0, side / h, 2 * cy / h - 1]], dtype=torch.float32
    )[None]  # (1, 2, 3)
    grid = F.affine_grid(theta, [1, 3, size, size], align_corners=False)
    return F.grid_sample(
        image[None].float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )[0].clamp(0, 1)


def region_crops(
    image: torch.Tensor, composition: Composition, judgements: Sequence[ConceptJudgement], size: int
) -> torch.Tensor:
    """Each concept's region of a generated image: the matched detection's box, or the box the prompt asks
    for when the judge did not find the concept (or there is no judge).

    Returns:
        `torch.Tensor` of shape `(K, 3, size, size)` for the ``K`` concepts.
    """
    crops = []
    for k, box in enumerate(composition.boxes):
        j = judgements[k] if k < len(judgements) else None
        crops.append(crop_box(image, j.box if j is not None and j.box is not None else box, size))
    return torch.stack(crops)
