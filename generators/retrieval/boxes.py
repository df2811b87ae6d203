"""Normalised xyxy boxes on pixel grids, and the box a shapes-world prompt gives an entity.

Example:
    >>> pixel_box((0.25, 0.0, 0.5, 0.1), 64, 64)
    (16, 0, 32, 7)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["pixel_box", "prompt_box"]


def pixel_box(box: Sequence[float], height: int, width: int) -> tuple[int, int, int, int]:
    """Pixel bounds ``(x0, y0, x1, y1)`` (end exclusive) covering a normalised xyxy box, at least one pixel."""
    x0, y0 = int(np.floor(box[0] * width)), int(np.floor(box[1] * height))
    x1, y1 = max(int(np.ceil(box[2] * width)), x0 + 1), max(int(np.ceil(box[3] * height)), y0 + 1)
    return x0, y0, min(x1, width), min(y1, height)


def prompt_box(prompt: str, entity: str) -> tuple[float, float, float, float] | None:
    """The box the shapes planner reads for ``entity`` in ``prompt`` (``"a zorvik emblem on the left ..."``);
    ``None`` when the prompt is not in the shapes grammar or does not name the entity."""
    from generators.layout.layout import LayoutError  # deferred: torch
    from generators.layout.planner import ShapesGrammarPlanner  # deferred: torch

    try:
        objects = ShapesGrammarPlanner().objects(prompt)
    except LayoutError:
        return None
    found = [o.box for o in objects if entity in o.phrase]
    return tuple(found[0]) if found else None
