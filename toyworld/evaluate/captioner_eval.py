"""Toy captioner quality: all attributes of single-object scenes, both objects of two-object scenes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from workbench.runs.items import map_batches

from ..pixels import normalize
from ..world import ShapesWorld, parse_caption

if TYPE_CHECKING:
    from workbench.runtime import Runtime


@torch.no_grad()
def caption_images(
    model, tokenizer, images: torch.Tensor, batch: int = 64, max_new_tokens: int = 48
) -> list[str]:
    out: list[str] = []
    for i in range(0, len(images), batch):
        ids = model.generate(
            pixel_values=normalize(images[i : i + batch]).to(next(model.parameters()).device),
            max_new_tokens=max_new_tokens,
            num_beams=1,
            do_sample=False,
        )
        out += [t.strip() for t in tokenizer.batch_decode(ids, skip_special_tokens=True)]
    return out


def _same(p, o) -> bool:
    return (p.shape, p.color, p.size, p.texture, p.position, p.entity) == (
        o.shape,
        o.color,
        o.size,
        o.texture,
        o.position,
        o.entity,
    )


@torch.no_grad()
def evaluate_captioner(
    model, tokenizer, n: int = 200, seed: int = 999, runtime: Runtime | None = None, batch: int = 64
) -> dict[str, float]:
    """Single-object captions with every attribute right, two-object captions naming both objects.

    With ``runtime``, scenes are rendered and captioned in fixed batches of ``batch`` shared among its
    processes (the same numbers on any number of processes).
    """
    world = ShapesWorld(model.config.vision_config.image_size)

    def captions(scene_seed: int, n_objects: int):
        def run(start: int, stop: int) -> list[str]:
            part = world.batch(scene_seed, "test", start, stop - start, n_objects=n_objects)
            return caption_images(model, tokenizer, part.images, batch)

        return map_batches(runtime, n, batch, run)

    ok = 0
    for cap, i in zip(captions(seed, 1), range(n)):
        parsed, scene = parse_caption(cap), world.scene(seed, "test", i, n_objects=1)
        ok += len(parsed) == 1 and _same(parsed[0], scene.objects[0])
    ok2 = 0
    for cap, i in zip(captions(seed + 1, 2), range(n)):
        parsed, scene = parse_caption(cap), world.scene(seed + 1, "test", i, n_objects=2)
        found = [any(p.shape == o.shape and p.color == o.color for p in parsed) for o in scene.objects]
        ok2 += all(found) and len(parsed) == 2
    return {"single_acc": ok / n, "two_object_acc": ok2 / n}
