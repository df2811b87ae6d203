"""PAID-style graphic rendering: draw taglines and labels into reserved boxes of generated images.

Text is set with Pillow's bundled FreeType font at the largest size at which the words, wrapped to the
box width, fit the box (down to ``min_size`` pixels); an optional panel behind the text keeps it legible
on any background.

Example:
    >>> import torch
    >>> img = torch.zeros(3, 64, 128)
    >>> out = render_text_items(img, [TextItem(text="SALE", box=(0.05, 0.05, 0.95, 0.45))])
    >>> bool((out[:, 32:] == img[:, 32:]).all()), bool((out != img).any())
    (True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .layout import LayoutError

__all__ = ["TextItem", "fit_text", "render_text_items"]


class TextItem(BaseModel):
    """A text to draw into a box.

    Args:
        text: the words (a tagline, a label); ``\\n`` forces a line break.
        box: normalised xyxy box the text must stay inside.
        color: RGB in [0, 1].
        panel: RGBA in [0, 1] of a rectangle drawn behind the text (``None``: no panel).
        align: ``left``, ``center`` or ``right``.
        min_size: the smallest font size in pixels; text that does not fit at it is an error.
    """

    model_config = ConfigDict(extra="forbid")

    text: str
    box: tuple[float, float, float, float]
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    panel: tuple[float, float, float, float] | None = (0.0, 0.0, 0.0, 0.55)
    align: str = Field(default="center", pattern="^(left|center|right)$")
    min_size: int = Field(default=6, ge=4)

    @field_validator("text")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty")
        return value

    @field_validator("box")
    @classmethod
    def _box(cls, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = box
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise ValueError(
                f"box {box} must be normalised xyxy with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1"
            )
        return box


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str] | None:
    """Greedy word wrap to ``width`` pixels; ``None`` when a single word is wider than ``width``."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in para.split():
            trial = f"{line} {word}".strip()
            if draw.textlength(trial, font=font) <= width:
                line = trial
            elif not line or draw.textlength(word, font=font) > width:
                return None
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


def fit_text(text: str, width: int, height: int, min_size: int = 6) -> tuple[int, list[str]]:
    """The largest font size (pixels) at which ``text`` wrapped to ``width`` fits ``height``, and its lines.

    Raises:
        LayoutError: the text does not fit even at ``min_size``.
    """
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    for size in range(max(min(height, 200), min_size), min_size - 1, -1):
        font = _font(size)
        lines = _wrap(draw, text, font, width)
        if lines is None:
            continue
        line_h = size * 1.2
        if len(lines) * line_h <= height + 0.2 * size:
            return size, lines
    raise LayoutError(
        f"text {text!r} does not fit a {width}x{height} px box at the smallest font size {min_size}: "
        "enlarge the box, shorten the text or lower min_size"
    )


def _draw_one(canvas: Image.Image, item: TextItem) -> None:
    W, H = canvas.size
    x0, y0, x1, y1 = item.box
    px0, py0, px1, py1 = round(x0 * W), round(y0 * H), round(x1 * W), round(y1 * H)
    bw, bh = max(px1 - px0, 1), max(py1 - py0, 1)
    pad = max(1, min(bw, bh) // 10)
    size, lines = fit_text(item.text, bw - 2 * pad, bh - 2 * pad, item.min_size)
    font = _font(size)
    if item.panel is not None:
        layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
        ImageDraw.Draw(layer).rectangle(
            [px0, py0, px1 - 1, py1 - 1], fill=tuple(round(c * 255) for c in item.panel)
        )
        canvas.alpha_composite(layer)
    draw = ImageDraw.Draw(canvas)
    line_h = size * 1.2
    top = py0 + (bh - len(lines) * line_h) / 2
    fill = tuple(round(c * 255) for c in item.color) + (255,)
    for k, line in enumerate(lines):
        lw = draw.textlength(line, font=font)
        if item.align == "left":
            x = px0 + pad
        elif item.align == "right":
            x = px1 - pad - lw
        else:
            x = px0 + (bw - lw) / 2
        draw.text((x, top + k * line_h), line, font=font, fill=fill)


def render_text_items(
    images: torch.Tensor, items: Sequence[TextItem] | Sequence[Sequence[TextItem]]
) -> torch.Tensor:
    """Draw text items into images; pixels outside every item's box are left unchanged.

    Args:
        images: `torch.Tensor` of shape `(3, H, W)` or `(B, 3, H, W)` in [0, 1].
        items: the items of every image, or (batched input) one list per image.

    Returns:
        `torch.Tensor` of the input's shape in [0, 1].
    """
    single = images.ndim == 3
    batch = images[None] if single else images
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(
            f"images must be (3, H, W) or (B, 3, H, W) RGB in [0, 1], got shape {tuple(images.shape)}"
        )
    per_image: list[Sequence[TextItem]]
    if items and not isinstance(items[0], TextItem):
        per_image = list(items)  # type: ignore[arg-type]
        if len(per_image) != len(batch):
            raise ValueError(f"{len(batch)} images but {len(per_image)} lists of text items")
    else:
        per_image = [items] * len(batch)  # type: ignore[list-item]
    out = []
    for img, its in zip(batch, per_image):
        arr = (img.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
        canvas = Image.fromarray(arr).convert("RGBA")
        for item in its:
            _draw_one(canvas, item)
        drawn = torch.from_numpy(np.array(canvas.convert("RGB"))).permute(2, 0, 1).float() / 255  # (3, H, W)
        # keep the untouched pixels bit-exact (no uint8 round trip outside the boxes)
        changed = (drawn - _to_tensor(arr)).abs().sum(0, keepdim=True) > 0  # (1, H, W)
        out.append(torch.where(changed, drawn.to(img.dtype).to(img.device), img))
    result = torch.stack(out)
    return result[0] if single else result


def _to_tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(arr).permute(2, 0, 1).float() / 255
