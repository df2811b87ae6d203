"""The code path a GPU user runs: SD-1.5-shaped components (random weights, shrunk) saved with
``save_pretrained`` and loaded with ``from_pretrained`` / ``workbench.loading``, through every method."""

from __future__ import annotations

import torch

from generators.layout import StableDiffusionBoxGuidancePipeline
from generators.layout.gcdp.testing import gcdp_pipeline_from_sd
from generators.layout.gligen import gated_unet_from, gligen_pipeline_from
from generators.layout.methods import layout_generators, layout_request
from generators.layout.planner import ShapesGrammarPlanner
from workbench.dummy import save_dummy_sd
from workbench.generation import build_generator
from workbench.loading import load_sd_pipeline
from workbench.runtime import Runtime


def test_every_method_on_a_loaded_sd15_shaped_pipeline(tmp_path):
    folder = save_dummy_sd(tmp_path / "sd15-shaped", seed=3)
    rt = Runtime(seed=0, device="cpu")
    pipe = load_sd_pipeline(str(folder), rt)
    assert pipe.unet.config.cross_attention_dim == pipe.text_encoder.config.hidden_size
    planner = ShapesGrammarPlanner()
    prompts = [
        "a large red circle on the left and a small blue star in the top right",
        "a green square at the bottom",
    ]
    layouts = [planner.plan(p) for p in prompts]
    regions = [planner.region_prompts(p) for p in prompts]
    own = {"gligen": gligen_pipeline_from(pipe, gated_unet_from(pipe.unet))}
    own["gcdp"] = own["gcdp_layout"] = gcdp_pipeline_from_sd(pipe)
    names = layout_generators()
    assert {"stock", "box_guidance", "boxdiff", "regions", "gligen", "gcdp", "gcdp_layout"} <= set(names)
    for name in names:
        request = layout_request(prompts, layouts, regions, rt.generators([0, 1], "image"), 2, 5.0)
        images = build_generator(name, own.get(name, pipe))(request)
        assert images.shape == (2, 3, 32, 32), name
        assert torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1, name
    direct = StableDiffusionBoxGuidancePipeline.from_pretrained(
        str(folder), safety_checker=None, requires_safety_checker=False
    )
    direct.set_progress_bar_config(disable=True)
    out = direct(
        prompts[0], layout=layouts[0], num_inference_steps=2, output_type="pt", return_attention=True
    )
    assert out.attention_maps[0].shape == (2, 32, 32)
