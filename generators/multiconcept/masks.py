"""Automatic concept masks: a foreground estimate, and the judge's detection on the toy world."""

from __future__ import annotations

from typing import Any

import torch

from generators.multiconcept.concept import ConceptError
from toyworld.world import parse_phrase

__all__ = ["foreground_mask", "judge_mask"]


def foreground_mask(image: torch.Tensor, threshold: float = 0.12) -> torch.Tensor:
    """Pixels that differ from the background colour (the median of the border pixels).

    Args:
        image (`torch.Tensor` of shape `(3, H, W)`): in [0, 1].
        threshold: the largest per-channel difference still counted as background.

    Returns:
        `torch.Tensor` of shape `(H, W)`, bool (may be empty on a plain image).
    """
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be (3, H, W), got {tuple(image.shape)}")
    border = torch.cat([image[:, 0], image[:, -1], image[:, :, 0], image[:, :, -1]], dim=1)  # (3, 2H + 2W)
    bg = border.median(dim=1).values.view(3, 1, 1)
    return (image - bg).abs().amax(dim=0) > threshold  # (H, W)


def judge_mask(
    image: torch.Tensor, judge: Any, prompt: str | None = None, threshold: float = 0.12
) -> torch.Tensor:
    """The concept's mask from the toy world's judge: its detection's box, cut to the foreground.

    Args:
        image (`torch.Tensor` of shape `(3, H, W)`): the reference, in [0, 1].
        judge: a ``toyworld.judge.ShapesJudge``.
        prompt: the concept prompt; when it names a shape / colour / entity, the detection that matches it
            is taken, else the most confident one.

    Returns:
        `torch.Tensor` of shape `(H, W)`, bool, non-empty.

    Raises:
        ConceptError: the judge finds nothing and the image has no foreground.
    """
    _, h, w = image.shape
    fg = foreground_mask(image, threshold)
    dets = judge.detect(image[None].float())[0]
    if prompt:
        want = parse_phrase(prompt)

        def agrees(d: Any) -> int:
            if want.entity is not None:
                return int(d.entity == want.entity) * 2
            return int(want.shape is not None and d.shape == want.shape) + int(
                want.color is not None and d.color == want.color
            )

        dets = sorted(dets, key=lambda d: (-agrees(d), -d.score))
    if not dets:
        if not fg.any():
            raise ConceptError(
                "the judge found no object and the image has no foreground; draw the mask instead"
            )
        return fg
    x0, y0, x1, y1 = dets[0].box
    box = torch.zeros(h, w, dtype=torch.bool)
    box[
        int(y0 * h) : max(int(y0 * h) + 1, round(y1 * h)), int(x0 * w) : max(int(x0 * w) + 1, round(x1 * w))
    ] = True
    mask = box & fg
    return mask if mask.any() else box
