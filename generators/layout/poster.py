"""PAID-style product posters: prompt -> layout (objects, tagline areas) -> generation with the objects
steered into their boxes -> graphic rendering of the taglines into the reserved areas; or, for a given
product image, the background generated around the unchanged product (:func:`generate_product_poster`).

After "PAID: A Framework of Product-Centric Advertising Image Design": the layout reserves bands for the
taglines, the image model fills the rest, and the text is drawn as graphics (never generated as pixels).

Example:
    >>> from generators.layout.planner import ShapesGrammarPlanner
    >>> plan = plan_poster("a large red star", ["Shine on"], ShapesGrammarPlanner())
    >>> plan.layout.reserved, plan.text_items[0].box
    ([(0.0, 0.0, 1.0, 0.22)], (0.0, 0.0, 1.0, 0.22))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from .background import generate_background
from .graphics import TextItem, render_text_items
from .layout import BoxLayout, LayoutError

__all__ = ["PosterPlan", "generate_poster", "generate_product_poster", "plan_poster"]


@dataclass(frozen=True)
class PosterPlan:
    """A poster's layout (objects, with the tagline areas reserved) and its text items."""

    prompt: str
    layout: BoxLayout
    text_items: list[TextItem]


def tagline_band(
    taglines: Sequence[str],
    band: Literal["top", "bottom"],
    band_height: float,
    text_color: tuple[float, float, float],
) -> tuple[tuple[float, float, float, float], list[TextItem]]:
    """The tagline band (normalised xyxy) and one text item per tagline stacked in it, first on top.

    Raises:
        LayoutError: a band height outside [0.05, 0.6], or no tagline.
    """
    if not 0.05 <= band_height <= 0.6:
        raise LayoutError(f"band_height must be in [0.05, 0.6], got {band_height}")
    if not taglines:
        raise LayoutError("a poster needs at least one tagline")
    band_box = (0.0, 0.0, 1.0, band_height) if band == "top" else (0.0, 1.0 - band_height, 1.0, 1.0)
    step = band_height / len(taglines)
    items = [
        TextItem(
            text=t, box=(0.0, band_box[1] + k * step, 1.0, band_box[1] + (k + 1) * step), color=text_color
        )
        for k, t in enumerate(taglines)
    ]
    return band_box, items


def plan_poster(
    prompt: str,
    taglines: Sequence[str],
    planner: Any,
    band: Literal["top", "bottom"] = "top",
    band_height: float = 0.22,
    text_color: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> PosterPlan:
    """Plan a poster: the planner's object boxes squeezed out of a tagline band, one text box per tagline.

    Args:
        prompt: the image prompt (objects the planner understands).
        taglines: texts stacked in the band, first on top.
        planner: a layout planner (``plan(prompt) -> BoxLayout``).
        band: where the taglines go.
        band_height: the band's share of the image height.
    """
    band_box, items = tagline_band(taglines, band, band_height, text_color)
    base = planner.plan(prompt)
    top = band_height if band == "top" else 0.0
    squeeze = 1.0 - band_height
    boxes = [(x0, top + y0 * squeeze, x1, top + y1 * squeeze) for x0, y0, x1, y1 in base.boxes]
    layout = BoxLayout(
        phrases=list(base.phrases), boxes=boxes, max_overlap=base.max_overlap, reserved=[band_box]
    )
    return PosterPlan(prompt=prompt, layout=layout, text_items=items)


def generate_poster(
    pipe: Any, plan: PosterPlan, generator: torch.Generator | None = None, **kwargs: Any
) -> torch.Tensor:
    """Generate the poster's image with a layout pipeline (box guidance or regions) and draw its taglines.

    Returns:
        `torch.Tensor` of shape `(3, H, W)` in [0, 1].
    """
    out = pipe(plan.prompt, layout=plan.layout, generator=generator, output_type="pt", **kwargs)
    return render_text_items(out.images[0].float().cpu(), plan.text_items)


def generate_product_poster(
    pipe: Any,
    prompt: str,
    product: Any,
    taglines: Sequence[str],
    band: Literal["top", "bottom"] = "top",
    band_height: float = 0.22,
    margin: float = 0.1,
    text_color: tuple[float, float, float] = (1.0, 1.0, 1.0),
    generator: torch.Generator | None = None,
    output_size: int | None = None,
    **kwargs: Any,
) -> torch.Tensor:
    """PAID's chain for a product image: layout (tagline band, product box in the rest of the image with
    ``margin`` on each side) -> background from ``prompt`` around the unchanged product -> taglines.

    Args:
        pipe: a Stable Diffusion pipeline or its components.
        prompt: what the background shows.
        product: the product (PIL image with alpha, or a `(3|4, h, w)` tensor; see
            :func:`generators.layout.background.product_tensors`).
        output_size: enlarge the generated image to this side (pixels) before the taglines are drawn, so
            text stays sharp on small models (default: the generated size).
        kwargs: more arguments of :func:`generators.layout.background.generate_background`.

    Returns:
        `torch.Tensor` of shape `(3, H, W)` in [0, 1] (``H = W = output_size`` when given).
    """
    _, items = tagline_band(taglines, band, band_height, text_color)
    if not 0 <= margin < 0.4:
        raise LayoutError(f"margin must be in [0, 0.4), got {margin}")
    free = (band_height, 1.0) if band == "top" else (0.0, 1.0 - band_height)
    height = free[1] - free[0]
    box = (margin, free[0] + margin * height, 1.0 - margin, free[1] - margin * height)
    image = generate_background(pipe, prompt, product, box, generator=generator, **kwargs)
    if output_size is not None and output_size != image.shape[-1]:
        image = torch.nn.functional.interpolate(
            image[None], size=(output_size, output_size), mode="bicubic", antialias=True, align_corners=False
        )[0].clamp(0, 1)
    return render_text_items(image, items)
