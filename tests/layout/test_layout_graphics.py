"""PAID-style graphics: text in reserved boxes, poster plans."""

from __future__ import annotations

import pytest
import torch

from generators.layout import LayoutError, TextItem, render_text_items
from generators.layout.graphics import fit_text
from generators.layout.planner import ShapesGrammarPlanner
from generators.layout.poster import generate_poster, plan_poster


def test_text_stays_inside_its_box():
    img = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    items = [
        TextItem(text="Summer sale", box=(0.1, 0.0, 0.9, 0.3)),
        TextItem(text="50%", box=(0.6, 0.7, 1.0, 1.0), panel=None),
    ]
    out = render_text_items(img, items)
    changed = (out != img).any(1)  # (2, H, W)
    assert changed.any()
    inside = torch.zeros(64, 96, dtype=torch.bool)
    inside[0:20, 9:87] = True
    inside[44:64, 57:96] = True
    assert not (changed & ~inside).any()


def test_text_that_cannot_fit_is_an_error():
    size, lines = fit_text("a long tagline here", 60, 40)
    assert size >= 6 and len(lines) >= 1
    with pytest.raises(LayoutError, match="does not fit"):
        render_text_items(
            torch.zeros(3, 32, 32), [TextItem(text="an impossibly long tagline", box=(0.0, 0.0, 0.2, 0.1))]
        )
    with pytest.raises(ValueError):
        TextItem(text="x", box=(0.5, 0.5, 0.4, 0.6))


def test_poster_plan_keeps_objects_out_of_the_band(components):
    from generators.layout import BoxGuidanceConfig, StableDiffusionBoxGuidancePipeline

    from .conftest import make

    plan = plan_poster(
        "a large red star on the left and a blue circle on the right",
        ["Shine on", "now 2 for 1"],
        ShapesGrammarPlanner(),
    )
    band = plan.layout.reserved[0]
    assert all(b[1] >= band[3] for b in plan.layout.boxes)
    assert [t.box[1] for t in plan.text_items] == pytest.approx([0.0, 0.11])
    pipe = make(StableDiffusionBoxGuidancePipeline, components)
    guidance = BoxGuidanceConfig.preset(
        "fast", attention_resolution=48, guided_steps=1
    )  # 96 px: 48x48 latents
    poster = generate_poster(
        pipe,
        plan,
        torch.Generator().manual_seed(0),
        guidance=guidance,
        num_inference_steps=2,
        height=96,
        width=96,
    )
    assert poster.shape == (3, 96, 96)
    with pytest.raises(LayoutError, match="does not fit"):  # at 32 px the band is too thin for two lines
        generate_poster(pipe, plan, torch.Generator().manual_seed(0), num_inference_steps=1)
