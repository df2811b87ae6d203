"""Toy CLIP quality: single-object zero-shot shape / colour accuracy and image-to-text R@1."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from workbench.runs.items import map_batches

from ..pixels import normalize
from ..vocab import COLOR_NAMES, SHAPES
from ..world import ShapesWorld

if TYPE_CHECKING:
    from workbench.runtime import Runtime


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def _embed_text(model, tokenizer, texts: list[str], batch: int = 256) -> torch.Tensor:
    outs = []
    for i in range(0, len(texts), batch):
        tok = tokenizer(texts[i : i + batch], padding="max_length", truncation=True, return_tensors="pt")
        f = model.get_text_features(
            input_ids=tok.input_ids.to(_device(model)), attention_mask=tok.attention_mask.to(_device(model))
        )
        outs.append((f if isinstance(f, torch.Tensor) else f.pooler_output).float().cpu())
    feats = torch.cat(outs)
    return torch.nn.functional.normalize(feats, dim=-1)


@torch.no_grad()
def _embed_images(model, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    outs = []
    for i in range(0, len(images), batch):
        f = model.get_image_features(pixel_values=normalize(images[i : i + batch]).to(_device(model)))
        outs.append((f if isinstance(f, torch.Tensor) else f.pooler_output).float().cpu())
    return torch.nn.functional.normalize(torch.cat(outs), dim=-1)


def _sharded_embeddings(
    model,
    tokenizer,
    world: ShapesWorld,
    seed: int,
    count: int,
    runtime: Runtime | None,
    batch: int,
    **options,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Image embeddings `(count, D)` of test scenes ``0..count-1`` and, with a ``tokenizer``, their
    captions' `(count, D)`; the batches are shared among the runtime's processes."""

    def embed(start: int, stop: int) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        part = world.batch(seed, "test", start, stop - start, **options)
        images = _embed_images(model, part.images, batch)
        if tokenizer is None:
            return [(x, None) for x in images]
        return list(zip(images, _embed_text(model, tokenizer, part.captions, batch)))

    rows = map_batches(runtime, count, batch, embed)
    images = torch.stack([r[0] for r in rows])
    return images, (torch.stack([r[1] for r in rows]) if tokenizer is not None else None)


@torch.no_grad()
def evaluate_clip(
    model,
    tokenizer,
    n: int = 500,
    seed: int = 999,
    retrieval_n: int = 1000,
    runtime: Runtime | None = None,
    batch: int = 256,
) -> dict[str, float]:
    """Zero-shot accuracy on ``n`` single-object scenes and R@1 among ``retrieval_n`` 1-3 object captions.

    With ``runtime``, scenes are rendered and embedded in fixed batches of ``batch`` shared among its
    processes (the same numbers on any number of processes).
    """
    world = ShapesWorld(model.config.vision_config.image_size)
    img, _ = _sharded_embeddings(model, None, world, seed, n, runtime, batch, n_objects=1)
    single = [world.scene(seed, "test", i, n_objects=1) for i in range(n)]  # the scenes, not rendered
    shape_t = _embed_text(model, tokenizer, [f"a {s}" for s in SHAPES])
    color_t = _embed_text(model, tokenizer, [f"a {c} object" for c in COLOR_NAMES])
    shape_pred = (img @ shape_t.T).argmax(1)
    color_pred = (img @ color_t.T).argmax(1)
    shape_true = torch.tensor([SHAPES.index(s.objects[0].shape) for s in single])
    color_true = torch.tensor([COLOR_NAMES.index(s.objects[0].color) for s in single])
    mi, mt = _sharded_embeddings(
        model, tokenizer, world, seed + 1, retrieval_n, runtime, batch, n_objects=(1, 3)
    )
    sims = mi @ mt.T  # (N, N)
    r1 = (sims.argmax(1) == torch.arange(retrieval_n)).float().mean()
    off = ~torch.eye(retrieval_n, dtype=torch.bool)
    return {
        "zeroshot_shape_acc": (shape_pred == shape_true).float().mean().item(),
        "zeroshot_color_acc": (color_pred == color_true).float().mean().item(),
        "retrieval_r1": r1.item(),
        # the modality gap: real CLIPs keep images and captions in separate cones (matching cosine ~0.3,
        # caption-caption ~0.8); a master image needs it
        "matching_cos": sims.diagonal().mean().item(),
        "text_text_cos": (mt @ mt.T)[off].mean().item(),
        "modality_gap": (mi.mean(0) - mt.mean(0)).norm().item(),
    }
