"""Real images of a prompt's class in the toy world: rendered scenes that match the caption."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch

from toyworld.render import render_scene
from toyworld.scene import ObjectSpec, Scene
from toyworld.vocab import COLOR_NAMES, POSITIONS, SHAPES, SIZE_NAMES, SIZES
from toyworld.world import SPLITS, cell_box, parse_caption, sample_scene, scene_rng


class ToyWorldImages:
    """``prompt -> (N, 3, S, S)`` scenes of the shapes world that show what the prompt says.

    Each object phrase of the prompt (``"a small striped red circle on the left"``) fixes the
    attributes it names; unnamed attributes (size, texture, position, background tint) are drawn at
    random, so the images span the class. Scenes are deterministic in ``(seed, split, prompt, i)``.

    Args:
        size: the image side.
        per_prompt: images per prompt.
        seed: the world seed.
        split: ``"train"``, ``"val"`` or ``"test"`` (disjoint scene streams).
        distractors: how many extra random objects each scene holds (``(lo, hi)`` inclusive or an int).

    Example:
        >>> images = ToyWorldImages(size=32, per_prompt=4)("a red circle")
        >>> images.shape
        torch.Size([4, 3, 32, 32])
    """

    def __init__(
        self,
        size: int = 64,
        per_prompt: int = 32,
        seed: int = 0,
        split: str = "test",
        distractors: int | tuple[int, int] = 0,
    ) -> None:
        if per_prompt < 1:
            raise ValueError(f"per_prompt must be at least 1, got {per_prompt}")
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
        self.size = size
        self.per_prompt = per_prompt
        self.seed = seed
        self.split = split
        self.distractors = (distractors, distractors) if isinstance(distractors, int) else tuple(distractors)
        self._cache: dict[str, torch.Tensor] = {}

    def scenes(self, prompt: str, count: int | None = None) -> list:
        parsed = parse_caption(prompt)
        if not parsed:
            raise ValueError(
                f"the toy world cannot show {prompt!r}: it names no shape or entity it knows (e.g. 'a red circle')"
            )
        key = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:4], "little")
        out = []
        for i in range(count or self.per_prompt):
            rng = scene_rng(self.seed, self.split, key * 4096 + i)
            lo, hi = self.distractors
            n_extra = int(rng.integers(lo, hi + 1))
            base = sample_scene(
                rng, n_objects=min(9, len(parsed) + n_extra) if n_extra else len(parsed), seed=i
            )
            used = {POSITIONS.index(o.position) for o in base.objects[len(parsed) :]}
            free = [c for c in rng.permutation(9).tolist() if c not in used]
            objects = list(base.objects[len(parsed) :])
            for p in parsed:
                cell = POSITIONS.index(p.position) if p.position is not None else free[0]
                if cell in free:
                    free.remove(cell)
                else:
                    objects = [o for o in objects if POSITIONS.index(o.position) != cell]
                if p.entity is not None:
                    objects.insert(
                        0,
                        ObjectSpec(
                            p.shape,
                            p.color,
                            "large",
                            p.texture,
                            cell_box(cell, SIZES["large"], rng),
                            entity=p.entity,
                        ),
                    )
                    continue
                size = p.size or SIZE_NAMES[int(rng.integers(len(SIZE_NAMES)))]
                texture = p.texture or "plain"
                shape = p.shape or SHAPES[int(rng.integers(len(SHAPES)))]
                color = p.color or COLOR_NAMES[int(rng.integers(len(COLOR_NAMES)))]
                objects.insert(0, ObjectSpec(shape, color, size, texture, cell_box(cell, SIZES[size], rng)))
            out.append(Scene(objects=tuple(objects), background=base.background, seed=i))
        return out

    def __call__(self, prompt: str) -> torch.Tensor:
        if prompt not in self._cache:
            imgs = [render_scene(s, self.size)[0] for s in self.scenes(prompt)]
            self._cache[prompt] = torch.from_numpy(np.stack(imgs))  # (N, 3, S, S)
        return self._cache[prompt]

    def labelled(
        self, class_prompts: Sequence[str], per_class: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`(N, 3, S, S)` images of every class and their `(N,)` class indices (zero-shot evaluation)."""
        images, labels = [], []
        for j, p in enumerate(class_prompts):
            x = self(p)[: per_class or self.per_prompt]
            images.append(x)
            labels.append(torch.full((x.shape[0],), j, dtype=torch.long))
        return torch.cat(images), torch.cat(labels)


def toy_class_prompts(colors: Sequence[str] | None = None, shapes: Sequence[str] | None = None) -> list[str]:
    """``"a <colour> <shape>"`` for every colour and shape of the toy world (48 classes)."""
    return [f"a {c} {s}" for c in (colors or COLOR_NAMES) for s in (shapes or SHAPES)]
