"""Toy captioner quality: all attributes of single-object scenes, both objects of two-object scenes."""

from __future__ import annotations

import torch

from ..world import ShapesWorld, parse_caption


@torch.no_grad()
def caption_images(
    model, tokenizer, images: torch.Tensor, batch: int = 64, max_new_tokens: int = 48
) -> list[str]:
    from ..pixels import normalize

    out: list[str] = []
    for i in range(0, len(images), batch):
        ids = model.generate(
            pixel_values=normalize(images[i : i + batch]),
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
def evaluate_captioner(model, tokenizer, n: int = 200, seed: int = 999) -> dict[str, float]:
    world = ShapesWorld(model.config.vision_config.image_size)
    single = world.batch(seed, "test", 0, n, n_objects=1)
    caps = caption_images(model, tokenizer, single.images)
    ok = 0
    for cap, scene in zip(caps, single.scenes):
        parsed = parse_caption(cap)
        ok += len(parsed) == 1 and _same(parsed[0], scene.objects[0])
    two = world.batch(seed + 1, "test", 0, n, n_objects=2)
    caps2 = caption_images(model, tokenizer, two.images)
    ok2 = 0
    for cap, scene in zip(caps2, two.scenes):
        parsed = parse_caption(cap)
        found = [any(p.shape == o.shape and p.color == o.color for p in parsed) for o in scene.objects]
        ok2 += all(found) and len(parsed) == 2
    return {"single_acc": ok / n, "two_object_acc": ok2 / n}
