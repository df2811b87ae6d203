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


@torch.no_grad()
def vae_roundtrip(vae, images: torch.Tensor) -> torch.Tensor:
    """``images`` `(B, 3, H, W)` in [0, 1] through ``vae`` (encode, the latents' mean, decode), as the toy
    SD draws them."""
    x = images.to(next(vae.parameters()).device) * 2 - 1
    out = vae.decode(vae.encode(x).latent_dist.mode()).sample  # (B, 3, H, W) in about [-1, 1]
    return ((out + 1) / 2).clamp(0, 1).to(images.device)


@torch.no_grad()
def errors_by_size(
    model,
    tokenizer,
    n: int = 200,
    seed: int = 4343,
    n_objects: int | tuple[int, int] = (1, 4),
    vae=None,
    max_new_tokens: int = 48,
    batch: int = 64,
) -> dict[str, float]:
    """How often the caption misreads an object of each size, on held-out scenes of ``n_objects``.

    Each object of the scene is found in the caption by its position (grid cells are distinct); per size
    (``small``, ``large``): the share of objects whose position the caption omits (``missing``), whose
    shape word is wrong (``shape``), whose colour word is wrong (``color``), and whose shape or colour is
    wrong or that is missing (``wrong``), with the object count ``n``. With ``vae``, scenes are read
    after its round trip (:func:`vae_roundtrip`). ``max_new_tokens`` cuts captions as a generation
    length limit does.
    """
    world = ShapesWorld(model.config.vision_config.image_size)
    counts: dict[str, dict[str, int]] = {}
    for start in range(0, n, batch):
        part = world.batch(seed, "test", start, min(batch, n - start), n_objects=n_objects)
        images = part.images if vae is None else vae_roundtrip(vae, part.images)
        for scene, cap in zip(part.scenes, caption_images(model, tokenizer, images, batch, max_new_tokens)):
            by_position = {p.position: p for p in parse_caption(cap)}
            for obj in scene.objects:
                if obj.entity is not None or obj.shape is None:
                    continue
                c = counts.setdefault(obj.size, dict.fromkeys(("n", "missing", "shape", "color", "wrong"), 0))
                p = by_position.get(obj.position)
                c["n"] += 1
                c["missing"] += p is None
                c["shape"] += p is not None and p.shape != obj.shape
                c["color"] += p is not None and p.color != obj.color
                c["wrong"] += p is None or p.shape != obj.shape or p.color != obj.color
    out: dict[str, float] = {}
    for size, c in sorted(counts.items()):
        out[f"{size}.n"] = c["n"]
        for k in ("missing", "shape", "color", "wrong"):
            out[f"{size}.{k}"] = c[k] / max(c["n"], 1)
    return out
