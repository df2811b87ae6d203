"""Region prompts (MultiDiffusion-style fusion)."""

from __future__ import annotations

import pytest
import torch
from diffusers import StableDiffusionPipeline

from generators.layout import BoxLayout, LayoutError, RegionsConfig, StableDiffusionRegionsPipeline

from .conftest import PROMPT, make


def test_one_full_region_with_the_prompt_is_the_stock_pipeline(components):
    stock = make(StableDiffusionPipeline, components)
    pipe = make(StableDiffusionRegionsPipeline, components)
    full = BoxLayout(phrases=["a red circle"], boxes=[(0.0, 0.0, 1.0, 1.0)])
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    ref = stock(PROMPT, num_inference_steps=3, generator=g(), output_type="pt").images
    out = pipe(
        PROMPT,
        layout=full,
        region_prompts=[[PROMPT]],
        config=RegionsConfig(bootstrap_fraction=0.0),
        num_inference_steps=3,
        generator=g(),
        output_type="pt",
    )
    assert torch.allclose(out.images, ref, atol=1e-4)
    bg, region = out.region_masks[0]
    assert bg.sum() == 0 and region.all()


def test_regions_change_only_what_they_cover(components, two_boxes):
    # one step: every row sees the same latents, so a region's prompt acts inside its mask only
    pipe = make(StableDiffusionRegionsPipeline, components)
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    a = pipe(
        PROMPT,
        layout=two_boxes,
        config=RegionsConfig(bootstrap_fraction=0.0),
        num_inference_steps=1,
        generator=g(),
        output_type="latent",
    ).images
    b = pipe(
        PROMPT,
        layout=two_boxes,
        region_prompts=[["a red circle", "a green star"]],
        config=RegionsConfig(bootstrap_fraction=0.0),
        num_inference_steps=1,
        generator=g(),
        output_type="latent",
    ).images
    diff = (a - b).abs().amax(1)[0]  # (16, 16)
    assert diff[4:12, 8:].max() > 0  # the second region changed
    assert diff[4:12, :8].max() == 0 and diff[:4].max() == 0  # the first region and the background did not


def test_batched_layouts_bootstrap_and_errors(components, two_boxes):
    pipe = make(StableDiffusionRegionsPipeline, components)
    one = BoxLayout(phrases=["a red circle"], boxes=[(0.1, 0.1, 0.5, 0.5)])
    out = pipe(
        [PROMPT, "a red circle"],
        layout=[two_boxes, one],
        num_inference_steps=5,
        output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )
    assert out.images.shape == (2, 3, 32, 32) and torch.isfinite(out.images).all()
    assert [m.shape[0] for m in out.region_masks] == [3, 2]
    with pytest.raises(LayoutError, match="region prompts for 2 layout regions"):
        pipe(PROMPT, layout=two_boxes, region_prompts=[["only one"]], num_inference_steps=1)


def test_background_bootstrap_holds_the_image_flat_outside_every_region(components, two_boxes):
    # the UNet's input for the image's own row, outside the boxes, no longer depends on the starting latents
    pipe = make(StableDiffusionRegionsPipeline, components)
    seen = []
    forward = pipe.unet.forward
    pipe.unet.forward = lambda sample, *a, **k: (seen.append(sample.clone()), forward(sample, *a, **k))[1]
    config = RegionsConfig(
        bootstrap_fraction=1.0, bootstrap_color=(0.12, 0.12, 0.12), background_bootstrap=True
    )
    for seed in (0, 1):
        start = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(seed))
        pipe(
            PROMPT,
            layout=two_boxes,
            config=config,
            num_inference_steps=1,
            latents=start,
            generator=torch.Generator().manual_seed(5),
            output_type="latent",
        )
    first, second = seen[0][0], seen[1][0]  # the image's own row (uncond half), (4, 16, 16)
    union = two_boxes.region_masks(16, 16).sum(0) > 0  # (16, 16)
    assert torch.equal(first[:, ~union], second[:, ~union])
    assert not torch.allclose(first[:, union], second[:, union])


def test_bootstrap_colour_is_checked():
    assert RegionsConfig(bootstrap_color=[0.1, 0.2, 0.3]).bootstrap_color == (0.1, 0.2, 0.3)
    with pytest.raises(ValueError, match="outside \\[0, 1\\]"):
        RegionsConfig(bootstrap_color=(1.5, 0.0, 0.0))
    with pytest.raises(ValueError):
        RegionsConfig(bootstrap_color="auto")


def test_settings_for_the_toy_sd_bootstrap_on_its_background():
    from toyworld.vocab import BACKGROUND

    toy = RegionsConfig.for_model("toy")
    assert toy.bootstrap_color == BACKGROUND and toy.background_bootstrap
    assert RegionsConfig.for_model("runwayml/stable-diffusion-v1-5") == RegionsConfig()
