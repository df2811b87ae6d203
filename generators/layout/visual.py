"""Pictures of layouts for reports and the demo: boxes drawn over images, attention maps as heat overlays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

__all__ = ["PALETTE", "attention_overlay", "draw_boxes", "to_pil"]

PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 80, 80),
    (80, 200, 255),
    (255, 210, 60),
    (120, 255, 120),
    (230, 120, 255),
    (255, 150, 40),
)


def to_pil(image: torch.Tensor) -> Image.Image:
    """`(3, H, W)` in [0, 1] -> RGB PIL image."""
    arr = (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(arr)


def draw_boxes(
    image: torch.Tensor | Image.Image,
    boxes: Sequence[Sequence[float]],
    labels: Sequence[str] | None = None,
    scale: int = 1,
) -> Image.Image:
    """The image (a `(3, H, W)` tensor in [0, 1] or PIL), upscaled ``scale`` times, with normalised xyxy
    boxes outlined (and labelled) in :data:`PALETTE` colours."""
    pil = image if isinstance(image, Image.Image) else to_pil(image)
    if scale != 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
    pil = pil.copy()
    draw = ImageDraw.Draw(pil)
    w, h = pil.size
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        color = PALETTE[i % len(PALETTE)]
        draw.rectangle([x0 * w, y0 * h, x1 * w - 1, y1 * h - 1], outline=color, width=max(1, w // 128))
        if labels is not None and i < len(labels):
            draw.text((x0 * w + 2, y0 * h + 1), labels[i], fill=color)
    return pil


def attention_overlay(image: torch.Tensor, attention: torch.Tensor, alpha: float = 0.6) -> Image.Image:
    """Blend a heat map of ``attention`` `(H, W)` in [0, 1] over ``image`` `(3, H, W)` in [0, 1]."""
    import matplotlib

    cmap = matplotlib.colormaps["inferno"]
    heat = (
        torch.from_numpy(cmap(attention.clamp(0, 1).cpu().numpy())[..., :3]).permute(2, 0, 1).float()
    )  # (3, H, W)
    return to_pil((1 - alpha) * image.float().cpu() + alpha * heat)
