"""Semantic layouts of shapes-world scenes: the per-pixel class of every pixel (background, the six shapes,
emblem), exact from the renderer's instance masks, and its block-wise reduction to a latent grid.

With ``colors=True`` a shape's class is its (shape, colour) pair instead (:func:`layout_classes`: background,
the six shapes x the eight colours, emblem: 50 classes), so a layout says what colour each object is as well.

Example:
    >>> from toyworld.world import ShapesWorld
    >>> batch = ShapesWorld(64).batch(seed=0, split="train", start=0, count=2, n_objects=2)
    >>> maps = semantic_maps(batch.scenes, batch.masks)  # (2, 64, 64) class ids
    >>> tuple(downsample_classes(maps, 4).shape)
    (2, 16, 16)
    >>> len(layout_classes(colors=True)), layout_classes(colors=True)[1]
    (50, 'red circle')
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .render import shape_coverage
from .scene import ObjectSpec, Scene
from .vocab import COLOR_NAMES, SHAPES

__all__ = [
    "LAYOUT_CLASSES",
    "class_of_object",
    "class_of_shape",
    "colors_of_num_classes",
    "downsample_classes",
    "layout_classes",
    "layout_from_objects",
    "semantic_maps",
    "shape_classes",
]

# class 0 is the background, 1-6 the shapes in vocabulary order, 7 an emblem (named or anonymous)
LAYOUT_CLASSES: tuple[str, ...] = ("background", *SHAPES, "emblem")
EMBLEM = len(LAYOUT_CLASSES) - 1
# with colours: class 0 the background, 1 + shape * 8 + colour the (shape, colour) pairs, the last an emblem
COLOR_LAYOUT_CLASSES: tuple[str, ...] = (
    "background",
    *(f"{color} {shape}" for shape in SHAPES for color in COLOR_NAMES),
    "emblem",
)


def layout_classes(colors: bool = False) -> tuple[str, ...]:
    """The class names of shape layouts (:data:`LAYOUT_CLASSES`, 8) or of colour layouts (50)."""
    return COLOR_LAYOUT_CLASSES if colors else LAYOUT_CLASSES


def emblem_class(colors: bool = False) -> int:
    """The emblem's class id (the last class)."""
    return len(layout_classes(colors)) - 1


def colors_of_num_classes(num_classes: int) -> bool:
    """Whether a model with ``num_classes`` layout classes reads colour layouts (50) or shape layouts (8)."""
    if num_classes == len(COLOR_LAYOUT_CLASSES):
        return True
    if num_classes == len(LAYOUT_CLASSES):
        return False
    raise ValueError(
        f"{num_classes} layout classes is neither the shape layout's {len(LAYOUT_CLASSES)} nor the colour "
        f"layout's {len(COLOR_LAYOUT_CLASSES)}; give a model trained on toy-world layouts"
    )


def class_of_shape(shape: str, color: str | None = None, colors: bool = False, emblem: bool = False) -> int:
    """The layout class of a shape (with ``colors``, of the (shape, colour) pair), or the emblem class."""
    if emblem:
        return emblem_class(colors)
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; use one of {', '.join(SHAPES)}")
    if not colors:
        return 1 + SHAPES.index(shape)
    if color not in COLOR_NAMES:
        raise ValueError(
            f"colour layouts need a colour of {', '.join(COLOR_NAMES)} for the {shape}, got {color!r}"
        )
    return 1 + SHAPES.index(shape) * len(COLOR_NAMES) + COLOR_NAMES.index(color)


def shape_classes(maps: torch.Tensor) -> torch.Tensor:
    """Colour layouts `(...)` mapped to shape layouts `(...)` (each (shape, colour) class to its shape's)."""
    lut = torch.tensor([class_of_shape(*c.split()[::-1]) if " " in c else 0 for c in COLOR_LAYOUT_CLASSES])
    lut[-1] = EMBLEM
    return lut.to(maps.device)[maps.long()]


def class_of_object(obj: ObjectSpec, colors: bool = False) -> int:
    """The layout class of one object: its shape's (with ``colors``, its shape and colour's), or the emblem
    class."""
    return class_of_shape(obj.shape, obj.color, colors, emblem=obj.emblem_design is not None)


def semantic_maps(scenes: Sequence[Scene], masks: torch.Tensor, colors: bool = False) -> torch.Tensor:
    """Per-pixel classes `(B, H, W)` int64 from the renderer's instance masks `(B, H, W)` (0 = background,
    ``i + 1`` = object ``i``); ``colors``: the (shape, colour) classes of :func:`layout_classes`."""
    if len(scenes) != masks.shape[0]:
        raise ValueError(f"{len(scenes)} scene(s) for {masks.shape[0]} mask(s); give one scene per mask")
    width = 1 + max((len(s.objects) for s in scenes), default=0)
    lut = torch.zeros(len(scenes), width, dtype=torch.long)  # (B, 1 + max objects): instance -> class
    for b, scene in enumerate(scenes):
        for i, obj in enumerate(scene.objects):
            lut[b, i + 1] = class_of_object(obj, colors)
    return torch.gather(lut, 1, masks.long().flatten(1)).view_as(masks)


def downsample_classes(
    maps: torch.Tensor, factor: int, num_classes: int | None = None, background_weight: float = 0.5
) -> torch.Tensor:
    """Reduce class maps `(B, H, W)` to `(B, H / factor, W / factor)`: each block takes its most frequent
    class, the background's share counted at ``background_weight`` (a small object covering a third of a
    block keeps it)."""
    if maps.shape[-1] % factor or maps.shape[-2] % factor:
        raise ValueError(f"maps of size {tuple(maps.shape[-2:])} do not divide into blocks of {factor}")
    if num_classes is None:  # the shape layout's 8, or as many as the maps hold (colour layouts)
        num_classes = max(len(LAYOUT_CLASSES), int(maps.max()) + 1 if maps.numel() else 0)
    onehot = F.one_hot(maps.long(), num_classes).permute(0, 3, 1, 2).float()  # (B, K, H, W)
    share = F.avg_pool2d(onehot, factor)  # (B, K, H/f, W/f)
    share[:, 0] *= background_weight
    return share.argmax(1)


def layout_from_objects(objects: Sequence[Sequence[tuple]], size: int, colors: bool = False) -> torch.Tensor:
    """Class maps `(B, size, size)` drawn from objects given as ``(entity or None, shape, box)`` per image
    (boxes normalised xyxy): the layout a set of detections implies, drawn as the renderer draws shapes. With
    ``colors`` each object is ``(entity or None, shape, box, colour)`` and takes its (shape, colour) class."""
    out = torch.zeros(len(objects), size, size, dtype=torch.long)
    for b, objs in enumerate(objects):
        for entity, shape, box, *rest in objs:
            if colors and not rest:
                raise ValueError(
                    f"colour layouts need (entity, shape, box, colour) per object, got {shape!r} without"
                )
            cls = class_of_shape(shape, rest[0] if rest else None, colors, emblem=entity is not None)
            cov, (r0, r1, c0, c1) = shape_coverage(shape, tuple(float(v) for v in box), size)
            region = out[b, r0:r1, c0:c1]
            region[torch.from_numpy(cov >= 0.5)] = cls
    return out
