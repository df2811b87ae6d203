"""The procedural shapes world: seeded scenes, their captions, boxes and masks, and caption parsing.

Example:
    >>> from toyworld.world import ShapesWorld
    >>> world = ShapesWorld(size=64)
    >>> batch = world.batch(seed=0, split="train", start=0, count=4, n_objects=(1, 2))
    >>> batch.images.shape, len(batch.captions)
    (torch.Size([4, 3, 64, 64]), 4)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .entities import BUCKET_WEIGHT, BUCKETS, EntityDesign, entity_design
from .render import render_scene
from .scene import ObjectSpec, Scene
from .vocab import COLOR_NAMES, ENTITY_NAMES, POSITION_PHRASES, POSITIONS, SHAPES, SIZE_NAMES, SIZES, TEXTURES

SPLITS: dict[str, int] = {"train": 0, "val": 1, "test": 2}


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of scene ``index`` of ``split`` under world seed ``seed`` (splits never overlap)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    return np.random.default_rng([int(seed), SPLITS[split], int(index)])


def cell_box(cell: int, radius: float, rng: np.random.Generator | None) -> tuple[float, float, float, float]:
    """A square box of half-side ``radius`` inside 3x3 grid cell ``cell``, jittered by ``rng``."""
    row, col = divmod(cell, 3)
    cx, cy = (col + 0.5) / 3, (row + 0.5) / 3
    slack = max(1 / 6 - radius - 0.005, 0.0)
    if rng is not None and slack > 0:
        cx += rng.uniform(-slack, slack)
        cy += rng.uniform(-slack, slack)
    return (cx - radius, cy - radius, cx + radius, cy + radius)


def emblem_object(
    box: tuple[float, float, float, float], entity: str | None = None, design: EntityDesign | None = None
) -> ObjectSpec:
    """A large emblem in ``box``: the named ``entity``'s design, or an anonymous ``design``."""
    if (entity is None) == (design is None):
        raise ValueError("give exactly one of entity (a named emblem) and design (an anonymous one)")
    d = entity_design(entity) if entity is not None else design
    return ObjectSpec(
        d.outer_shape, d.outer_color, "large", d.outer_texture, box, entity=entity, design=design
    )


def sample_scene(
    rng: np.random.Generator,
    n_objects: int | tuple[int, int] = (1, 4),
    entity_prob: float = 0.0,
    entities: Sequence[str] | None = None,
    seed: int = 0,
) -> Scene:
    """Sample a scene: 1-4 objects in distinct 3x3 grid cells, never overlapping."""
    if isinstance(n_objects, int):
        n = n_objects
    else:
        n = int(rng.integers(n_objects[0], n_objects[1] + 1))
    if not 1 <= n <= 9:
        raise ValueError(f"a scene holds 1 to 9 objects, asked for {n}")
    cells = rng.permutation(9)[:n]
    if entities is None:
        names = [e for b, es in BUCKETS.items() for e in es if BUCKET_WEIGHT[b] > 0]
        weights = np.array(
            [BUCKET_WEIGHT[b] for b, es in BUCKETS.items() for e in es if BUCKET_WEIGHT[b] > 0]
        )
    else:
        names, weights = list(entities), np.ones(len(entities))
    objs = []
    for cell in cells:
        if entity_prob > 0 and names and rng.random() < entity_prob:
            name = names[rng.choice(len(names), p=weights / weights.sum())]
            objs.append(emblem_object(cell_box(int(cell), SIZES["large"], rng), entity=name))
            continue
        size = SIZE_NAMES[rng.integers(len(SIZE_NAMES))]
        objs.append(
            ObjectSpec(
                shape=SHAPES[rng.integers(len(SHAPES))],
                color=COLOR_NAMES[rng.integers(len(COLOR_NAMES))],
                size=size,
                # textures only on large objects: at 64 px a small object's texture hides its shape
                texture=TEXTURES[rng.choice(3, p=[0.5, 0.25, 0.25])] if size == "large" else "plain",
                box=cell_box(int(cell), SIZES[size], rng),
            )
        )
    tint = rng.uniform(-0.05, 0.05, size=3) + rng.uniform(0.06, 0.16)
    return Scene(objects=tuple(objs), background=tuple(float(t) for t in np.clip(tint, 0, 1)), seed=seed)


@dataclass
class SceneBatch:
    """Rendered scenes.

    images: (B, 3, H, W) float32 in [0, 1]; masks: (B, H, W) int64 instance ids (0 = background).
    """

    scenes: list[Scene]
    images: torch.Tensor
    masks: torch.Tensor

    @property
    def captions(self) -> list[str]:
        return [s.caption() for s in self.scenes]


class ShapesWorld:
    """Seeded scene factory at a fixed image size."""

    def __init__(self, size: int = 64) -> None:
        if size < 16:
            raise ValueError(f"image size must be at least 16, got {size}")
        self.size = size

    def scene(self, seed: int, split: str, index: int, **kwargs) -> Scene:
        return sample_scene(scene_rng(seed, split, index), seed=index, **kwargs)

    def render(self, scenes: Sequence[Scene]) -> SceneBatch:
        imgs, masks = zip(*(render_scene(s, self.size) for s in scenes)) if scenes else ((), ())
        return SceneBatch(
            scenes=list(scenes),
            images=torch.from_numpy(np.stack(imgs)) if imgs else torch.zeros(0, 3, self.size, self.size),
            masks=torch.from_numpy(np.stack(masks))
            if masks
            else torch.zeros(0, self.size, self.size, dtype=torch.long),
        )

    def batch(self, seed: int, split: str, start: int, count: int, **kwargs) -> SceneBatch:
        return self.render([self.scene(seed, split, start + i, **kwargs) for i in range(count)])


# ---------------------------------------------------------------------- caption parsing
@dataclass
class ParsedObject:
    """An object as a caption describes it; unspecified attributes are ``None``."""

    shape: str | None = None
    color: str | None = None
    size: str | None = None
    texture: str | None = None
    position: str | None = None
    entity: str | None = None


_SPLIT = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+")
_POS_BY_PHRASE = sorted(((p, name) for name, p in POSITION_PHRASES.items()), key=lambda t: -len(t[0]))


def parse_phrase(phrase: str) -> ParsedObject:
    """Parse one object phrase (``"a small striped blue square on the right"``)."""
    text = " " + phrase.lower().strip() + " "
    obj = ParsedObject()
    for p, name in _POS_BY_PHRASE:
        if f" {p} " in text:
            obj.position = name
            text = text.replace(f" {p} ", " ")
            break
    words = text.split()
    for w in words:
        if w in SHAPES:
            obj.shape = w
        elif w in COLOR_NAMES:
            obj.color = w
        elif w in SIZE_NAMES:
            obj.size = w
        elif w in TEXTURES:
            obj.texture = w
        elif w in ENTITY_NAMES:
            obj.entity = w
    if obj.entity is not None:
        d = entity_design(obj.entity)
        obj.shape, obj.color, obj.texture, obj.size = d.outer_shape, d.outer_color, d.outer_texture, "large"
    elif obj.shape is not None and obj.texture is None:
        obj.texture = "plain"
    return obj


def parse_caption(caption: str) -> list[ParsedObject]:
    """Parse a shapes-world caption back into objects (the inverse of :meth:`Scene.caption`).

    Phrases without a shape or an entity are dropped.
    """
    phrases = [p for p in _SPLIT.split(caption.strip().rstrip(".")) if p]
    objs = [parse_phrase(p) for p in phrases]
    return [o for o in objs if o.shape is not None or o.entity is not None]


def position_of_cell(cell: int) -> str:
    return POSITIONS[cell]
