"""GenEval-style composition scoring of generated images against shapes-world prompts, by the judge.

Each prompt is parsed with the world's grammar; the judge's detections are matched to the requested
objects one to one. Per prompt the checks are:

- ``objects``: every requested shape is present (and nothing more is required);
- ``colors``: every requested object is found with its requested colour (attribute binding);
- ``positions``: each matched object sits in its requested 3x3 grid cell (when a position is given);
- ``count``: the number of detections equals the number of requested objects;
- ``correct``: all of the above (GenEval's per-image "correct").

``overall`` is the mean of ``correct``; GenEval averages task accuracies, which
:func:`summarize` gives per number of objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from scipy.optimize import linear_sum_assignment

from ..world import ParsedObject, parse_caption
from .model import Detection, ShapesJudge


@dataclass
class CompositionResult:
    prompt: str
    n_objects: int
    objects: bool
    colors: bool
    positions: bool
    count: bool
    correct: bool


def _cost(req: ParsedObject, det: Detection) -> float:
    # lower is better: shape first, then colour, then position
    return (
        4.0 * (det.shape != req.shape)
        + 2.0 * (req.color is not None and det.color != req.color)
        + 1.0 * (req.position is not None and det.position != req.position)
    )


def score_prompt(prompt: str, detections: Sequence[Detection]) -> CompositionResult:
    """Score one image's detections against its prompt."""
    req = parse_caption(prompt)
    if not req:
        raise ValueError(
            f"prompt {prompt!r} names no shapes-world object; composition scoring needs the world's grammar"
        )
    dets = list(detections)
    objects = colors = positions = False
    if dets:
        cost = torch.tensor([[_cost(r, d) for d in dets] for r in req])
        rows, cols = linear_sum_assignment(cost.numpy())
        pairs = list(zip(rows.tolist(), cols.tolist()))
        if len(pairs) == len(req):
            objects = all(dets[c].shape == req[r].shape for r, c in pairs)
            colors = objects and all(req[r].color is None or dets[c].color == req[r].color for r, c in pairs)
            positions = objects and all(
                req[r].position is None or dets[c].position == req[r].position for r, c in pairs
            )
    count = len(dets) == len(req)
    return CompositionResult(
        prompt, len(req), objects, colors, positions, count, objects and colors and positions and count
    )


@torch.no_grad()
def score_images(
    judge: ShapesJudge, images: torch.Tensor, prompts: Sequence[str], batch: int = 128
) -> list[CompositionResult]:
    """Score images (N, 3, H, W) in [0, 1] against their prompts."""
    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
    dets: list[list[Detection]] = []
    for i in range(0, len(images), batch):
        dets += judge.detect(images[i : i + batch])
    return [score_prompt(p, d) for p, d in zip(prompts, dets)]


def summarize(results: Sequence[CompositionResult]) -> dict[str, float]:
    """Mean of each check, overall and per number of requested objects (``two_object.correct`` ...)."""
    if not results:
        return {}
    keys = ("objects", "colors", "positions", "count", "correct")
    out = {k: sum(getattr(r, k) for r in results) / len(results) for k in keys}
    out["overall"] = out["correct"]
    names = {1: "single_object", 2: "two_object", 3: "three_object", 4: "four_object"}
    for n in sorted({r.n_objects for r in results}):
        sub = [r for r in results if r.n_objects == n]
        for k in keys:
            out[f"{names.get(n, f'{n}_object')}.{k}"] = sum(getattr(r, k) for r in sub) / len(sub)
    return out


def as_rows(results: Sequence[CompositionResult]) -> list[dict]:
    return [asdict(r) for r in results]
