"""Semantic layouts of shapes-world scenes: the per-pixel class of every pixel (background, the six shapes,
emblem), exact from the renderer's instance masks, and its block-wise reduction to a latent grid.

Example:
    >>> from toyworld.world import ShapesWorld
    >>> batch = ShapesWorld(64).batch(seed=0, split="train", start=0, count=2, n_objects=2)
    >>> maps = semantic_maps(batch.scenes, batch.masks)  # (2, 64, 64) class ids
    >>> tuple(downsample_classes(maps, 4).shape)
    (2, 16, 16)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .render import shape_coverage
from .scene import ObjectSpec, Scene
from .vocab import SHAPES

__all__ = [
    "LAYOUT_CLASSES",
    "class_of_object",
    "downsample_classes",
    "layout_from_objects",
    "semantic_maps",
]

# class 0 is the background, 1-6 the shapes in vocabulary order, 7 an emblem (named or anonymous)
LAYOUT_CLASSES: tuple[str, ...] = ("background", *SHAPES, "emblem")
EMBLEM = len(LAYOUT_CLASSES) - 1


def class_of_object(obj: ObjectSpec) -> int:
    """The layout class of one object: its shape's, or the emblem class."""
    return EMBLEM if obj.emblem_design is not None else 1 + SHAPES.index(obj.shape)


def semantic_maps(scenes: Sequence[Scene], masks: torch.Tensor) -> torch.Tensor:
    """Per-pixel classes `(B, H, W)` int64 from the renderer's instance masks `(B, H, W)` (0 = background,
    ``i + 1`` = object ``i``)."""
    if len(scenes) != masks.shape[0]:
        raise ValueError(f"{len(scenes)} scene(s) for {masks.shape[0]} mask(s); give one scene per mask")
    width = 1 + max((len(s.objects) for s in scenes), default=0)
    lut = torch.zeros(len(scenes), width, dtype=torch.long)  # (B, 1 + max objects): instance -> class
    for b, scene in enumerate(scenes):
        for i, obj in enumerate(scene.objects):
            lut[b, i + 1] = class_of_object(obj)
    return torch.gather(lut, 1, masks.long().flatten(1)).view_as(masks)


def downsample_classes(
    maps: torch.Tensor, factor: int, num_classes: int = len(LAYOUT_CLASSES), background_weight: float = 0.5
) -> torch.Tensor:
    """Reduce class maps `(B, H, W)` to `(B, H / factor, W / factor)`: each block takes its most frequent
    class, the background's share counted at ``background_weight`` (a small object covering a third of a
    block keeps it)."""
    if maps.shape[-1] % factor or maps.shape[-2] % factor:
        raise ValueError(f"maps of size {tuple(maps.shape[-2:])} do not divide into blocks of {factor}")
    onehot = F.one_hot(maps.long(), num_classes).permute(0, 3, 1, 2).float()  # (B, K, H, W)
    share = F.avg_pool2d(onehot, factor)  # (B, K, H/f, W/f)
    share[:, 0] *= background_weight
    return share.argmax(1)


def layout_from_objects(
    objects: Sequence[Sequence[tuple[str | None, str, tuple[float, float, float, float]]]], size: int
) -> torch.Tensor:
    """Class maps `(B, size, size)` drawn from objects given as ``(entity or None, shape, box)`` per image
    (boxes normalised xyxy): the layout a set of detections implies, drawn as the renderer draws shapes."""
    out = torch.zeros(len(objects), size, size, dtype=torch.long)
    for b, objs in enumerate(objects):
        for entity, shape, box in objs:
            cls = EMBLEM if entity is not None else 1 + SHAPES.index(shape)
            cov, (r0, r1, c0, c1) = shape_coverage(shape, tuple(float(v) for v in box), size)
            region = out[b, r0:r1, c0:c1]
            region[torch.from_numpy(cov >= 0.5)] = cls
    return out
