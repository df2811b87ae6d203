"""PAID's background stage: the product kept exactly, the background generated around it."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from generators.layout import LayoutError
from generators.layout.background import compose_product, generate_background, product_tensors
from generators.layout.poster import generate_product_poster


def _product() -> torch.Tensor:
    """A 16x16 RGBA product: an opaque orange disc, transparent corners."""
    yy, xx = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    disc = (((yy - 7.5) ** 2 + (xx - 7.5) ** 2) < 49).float()
    rgb = torch.stack([torch.ones(16, 16), 0.5 * torch.ones(16, 16), torch.zeros(16, 16)])
    return torch.cat([rgb, disc[None]])  # (4, 16, 16)


def test_the_product_is_kept_and_the_background_generated(components):
    product = _product()
    image = generate_background(
        components, "a blue square", product, (0.25, 0.25, 0.75, 0.75), torch.Generator().manual_seed(0),
        num_inference_steps=2,
    )  # fmt: skip
    canvas, placed = compose_product(product[:3], product[3], (0.25, 0.25, 0.75, 0.75), (32, 32))
    assert image.shape == (3, 32, 32) and 0 <= image.min() and image.max() <= 1
    keep = placed.bool()
    assert keep.sum() > 100 and torch.equal(image[:, keep], canvas[:, keep])  # the product's pixels, exactly
    assert (image[:, ~keep] - 0.5).abs().mean() > 0.02  # the rest is generated, not the grey canvas
    assert not keep[8, 8]  # a transparent corner of the product box is background too
    unpasted = generate_background(
        components, "a blue square", product, (0.25, 0.25, 0.75, 0.75), torch.Generator().manual_seed(0),
        num_inference_steps=2, paste=False,
    )  # fmt: skip
    assert not torch.equal(unpasted[:, keep], canvas[:, keep])  # the VAE alone alters the product


def test_product_from_pil_alpha_or_explicit_mask_and_aspect_ratio_kept():
    rgba = Image.new("RGBA", (20, 10), (255, 0, 0, 0))
    rgba.paste((255, 0, 0, 255), (0, 0, 20, 10))
    rgb, mask = product_tensors(rgba)
    assert rgb.shape == (3, 10, 20) and mask.all()
    _, mask = product_tensors(
        Image.new("RGB", (20, 10), "red"), mask=Image.new("L", (20, 10), 0).point(lambda v: 255)
    )
    assert mask.all()
    canvas, placed = compose_product(rgb, mask, (0.0, 0.0, 1.0, 1.0), (32, 32))
    rows, cols = placed.any(1).nonzero(), placed.any(0).nonzero()
    assert int(cols.max() - cols.min() + 1) == 32 and int(rows.max() - rows.min() + 1) == 16  # 2:1 kept
    assert canvas[0, 16, 16] == 1.0 and canvas[1, 0, 0] == 0.5  # product red, canvas grey


@pytest.mark.parametrize(
    "product, mask, box, prompt, match",
    [
        (torch.ones(3, 8, 8), None, (0.5, 0.5, 1.2, 1.0), "x", "must satisfy"),
        (torch.ones(3, 8, 8), None, (0.5, 0.5, 0.5, 1.0), "x", "must satisfy"),
        (torch.ones(3, 8, 8), None, (0.5, 0.5, 1.0), "x", "x0, y0, x1, y1"),
        (torch.ones(3, 8, 8), None, (0.1, 0.1, 0.9, 0.9), "  ", "prompt is empty"),
        (torch.zeros(4, 8, 8), None, (0.1, 0.1, 0.9, 0.9), "x", "mask is empty"),
        (torch.ones(2, 8, 8), None, (0.1, 0.1, 0.9, 0.9), "x", r"shape \(3, h, w\)"),
        (255 * torch.ones(3, 8, 8), None, (0.1, 0.1, 0.9, 0.9), "x", r"in \[0, 1\]"),
        (torch.ones(3, 8, 8), torch.ones(4, 4), (0.1, 0.1, 0.9, 0.9), "x", "mask is"),
        ("product.png", None, (0.1, 0.1, 0.9, 0.9), "x", "PIL image or a tensor"),
    ],
)
def test_bad_products_and_boxes_are_clear_errors(components, product, mask, box, prompt, match):
    with pytest.raises(LayoutError, match=match):
        generate_background(components, prompt, product, box, mask=mask, num_inference_steps=1)


def test_product_poster_keeps_the_product_and_writes_the_taglines(components):
    poster = generate_product_poster(
        components, "a blue square", torch.ones(3, 16, 16), ["Sale"], band_height=0.4, margin=0.1,
        generator=torch.Generator().manual_seed(0), num_inference_steps=1,
    )  # fmt: skip
    assert poster.shape == (3, 32, 32)
    # the product box: below the band (rows 13..32), 10 % margins -> a white square in the middle
    assert (poster[:, 18:27, 12:21] == 1).all()
    with pytest.raises(LayoutError, match="margin"):
        generate_product_poster(components, "x", torch.ones(3, 8, 8), ["Sale"], margin=0.5)
