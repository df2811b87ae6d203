"""Toy CLIP quality: single-object zero-shot shape / colour accuracy and image-to-text R@1."""

from __future__ import annotations

import torch

from ..vocab import COLOR_NAMES, SHAPES
from ..world import ShapesWorld


@torch.no_grad()
def _embed_text(model, tokenizer, texts: list[str], batch: int = 256) -> torch.Tensor:
    outs = []
    for i in range(0, len(texts), batch):
        tok = tokenizer(texts[i : i + batch], padding="max_length", truncation=True, return_tensors="pt")
        f = model.get_text_features(input_ids=tok.input_ids, attention_mask=tok.attention_mask)
        outs.append(f if isinstance(f, torch.Tensor) else f.pooler_output)
    feats = torch.cat(outs)
    return torch.nn.functional.normalize(feats, dim=-1)


@torch.no_grad()
def _embed_images(model, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    from ..pixels import normalize

    outs = []
    for i in range(0, len(images), batch):
        f = model.get_image_features(pixel_values=normalize(images[i : i + batch]))
        outs.append(f if isinstance(f, torch.Tensor) else f.pooler_output)
    return torch.nn.functional.normalize(torch.cat(outs), dim=-1)


@torch.no_grad()
def evaluate_clip(
    model, tokenizer, n: int = 500, seed: int = 999, retrieval_n: int = 1000
) -> dict[str, float]:
    """Zero-shot accuracy on ``n`` single-object scenes and R@1 among ``retrieval_n`` 1-3 object captions."""
    world = ShapesWorld(model.config.vision_config.image_size)
    single = world.batch(seed, "test", 0, n, n_objects=1)
    img = _embed_images(model, single.images)
    shape_t = _embed_text(model, tokenizer, [f"a {s}" for s in SHAPES])
    color_t = _embed_text(model, tokenizer, [f"a {c} object" for c in COLOR_NAMES])
    shape_pred = (img @ shape_t.T).argmax(1)
    color_pred = (img @ color_t.T).argmax(1)
    shape_true = torch.tensor([SHAPES.index(s.objects[0].shape) for s in single.scenes])
    color_true = torch.tensor([COLOR_NAMES.index(s.objects[0].color) for s in single.scenes])
    multi = world.batch(seed + 1, "test", 0, retrieval_n, n_objects=(1, 3))
    mi = _embed_images(model, multi.images)
    mt = _embed_text(model, tokenizer, multi.captions)
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
