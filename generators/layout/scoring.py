"""Judge-measured layout faithfulness: each requested object found (shape and colour) inside its box,
its detected box's IoU with the requested box, relative positions, counts, and GenEval-style composition.

Requested objects are matched one to one to the judge's detections (Hungarian assignment on
``4 * [shape differs] + 2 * [colour differs] + (1 - IoU)``). Per image:

- ``all_present``: every requested object matched by a detection of its shape and colour;
- ``all_in_box``: ... and each such detection's box has IoU >= ``iou_threshold`` with the requested box;
- ``mean_iou`` / ``mean_iou_found``: IoU of each object's detected box with its requested box, averaged
  over all requested objects (a missing object counts 0) / over the objects found;
- ``relations``: share of the requested pairwise left-of / above relations (centres more than a sixth of
  the image apart) that the detected centres keep;
- ``count``: as many detections as requested objects;
- GenEval's ``objects`` / ``colors`` / ``positions`` / ``correct`` from :mod:`toyworld.judge.geneval`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from toyworld.judge.geneval import score_prompt
from toyworld.judge.matching import box_iou

__all__ = ["ImageScore", "RequestedObject", "score_image", "summarize_scores"]

RELATION_GAP = 1 / 6


@dataclass(frozen=True)
class RequestedObject:
    """An object the prompt asks for: ``shape``, ``color`` (``None``: any) and its box (normalised xyxy)."""

    shape: str
    color: str | None
    box: tuple[float, float, float, float]


@dataclass
class ImageScore:
    prompt: str
    n_objects: int
    found: list[bool]
    in_box: list[bool]
    ious: list[float]
    all_present: bool
    all_in_box: bool
    mean_iou: float
    mean_iou_found: float | None
    relations: float | None
    count: bool
    geneval_objects: bool
    geneval_colors: bool
    geneval_positions: bool
    geneval_correct: bool

    def to_row(self) -> dict:
        return asdict(self)


def _center(box: Sequence[float]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _relations(requested: Sequence[RequestedObject], det_boxes: list[tuple | None]) -> float | None:
    total = kept = 0
    for i in range(len(requested)):
        for j in range(i + 1, len(requested)):
            ci, cj = _center(requested[i].box), _center(requested[j].box)
            for axis in (0, 1):
                gap = cj[axis] - ci[axis]
                if abs(gap) <= RELATION_GAP:
                    continue
                total += 1
                if det_boxes[i] is not None and det_boxes[j] is not None:
                    di, dj = _center(det_boxes[i]), _center(det_boxes[j])
                    kept += (dj[axis] - di[axis]) * gap > 0
    return kept / total if total else None


def score_image(
    prompt: str, requested: Sequence[RequestedObject], detections: Sequence, iou_threshold: float = 0.5
) -> ImageScore:
    """Score one image's judge detections (objects with ``shape``, ``color``, ``box``) against its request."""
    n = len(requested)
    dets = list(detections)
    found, in_box, ious = [False] * n, [False] * n, [0.0] * n
    det_boxes: list[tuple | None] = [None] * n
    if dets and n:
        cost = np.array(
            [
                [
                    4.0 * (d.shape != r.shape)
                    + 2.0 * (r.color is not None and d.color != r.color)
                    + (1.0 - box_iou(d.box, r.box))
                    for d in dets
                ]
                for r in requested
            ]
        )
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows.tolist(), cols.tolist()):
            d, req = dets[c], requested[r]
            if d.shape == req.shape and (req.color is None or d.color == req.color):
                found[r] = True
                det_boxes[r] = tuple(d.box)
                ious[r] = box_iou(d.box, req.box)
                in_box[r] = ious[r] >= iou_threshold
    found_ious = [iou for iou, f in zip(ious, found) if f]
    comp = score_prompt(prompt, dets)
    return ImageScore(
        prompt=prompt,
        n_objects=n,
        found=found,
        in_box=in_box,
        ious=ious,
        all_present=all(found),
        all_in_box=all(in_box),
        mean_iou=float(np.mean(ious)) if n else 0.0,
        mean_iou_found=float(np.mean(found_ious)) if found_ious else None,
        relations=_relations(requested, det_boxes),
        count=len(dets) == n,
        geneval_objects=comp.objects,
        geneval_colors=comp.colors,
        geneval_positions=comp.positions,
        geneval_correct=comp.correct,
    )


def summarize_scores(scores: Sequence[ImageScore]) -> dict[str, float | None]:
    """Means of the per-image measures (``mean_iou_found`` and ``relations`` over the images that have one,
    ``None`` when none has)."""
    if not scores:
        return {}
    out: dict[str, float | None] = {"images": float(len(scores))}
    for key in (
        "all_present",
        "all_in_box",
        "mean_iou",
        "count",
        "geneval_objects",
        "geneval_colors",
        "geneval_positions",
        "geneval_correct",
    ):
        out[key] = float(np.mean([float(getattr(s, key)) for s in scores]))
    for key in ("mean_iou_found", "relations"):
        vals = [getattr(s, key) for s in scores if getattr(s, key) is not None]
        out[key] = float(np.mean(vals)) if vals else None
    out["object_in_box"] = (
        float(np.mean([v for s in scores for v in s.in_box])) if any(s.n_objects for s in scores) else 0.0
    )
    return out
