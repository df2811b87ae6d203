"""The real code path: SD-1.5's architecture (4 levels, 16 transformer blocks), shrunk, random weights."""

from __future__ import annotations

import torch

from generators.multiconcept import MultiConceptPipeline

from .conftest import PROMPT, gen, toy_concepts


def sd15_shaped_unet():
    """SD-1.5's UNet config (4 levels, layers_per_block 2: 16 transformer blocks), shrunk to (32, 32, 64, 64)
    channels and cross-attention width 32 (the dummy text encoder's)."""
    from diffusers import UNet2DConditionModel

    from workbench.dummy import SD15_UNET_CONFIG

    config = {
        **SD15_UNET_CONFIG,
        "block_out_channels": [32, 32, 64, 64],
        "cross_attention_dim": 32,
        "attention_head_dim": 2,
        "sample_size": 16,
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return UNet2DConditionModel(**config).eval()


def test_sd15_shaped_pipeline_runs_with_the_papers_layers():
    from diffusers import StableDiffusionPipeline

    from workbench.dummy import dummy_sd_components

    components = dummy_sd_components()
    components["unet"] = sd15_shaped_unet()  # 16x16 latents of 32x32 images
    pipe = StableDiffusionPipeline(**components, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    mc = MultiConceptPipeline.from_pipe(pipe)
    before = dict(pipe.unet.attn_processors)
    out = mc(
        PROMPT,
        toy_concepts(n=3),
        num_inference_steps=2,
        generator=gen(0, 2),
        num_images_per_prompt=2,
        output_type="pt",
    )
    assert out.images.shape == (2, 3, 32, 32) and torch.isfinite(out.images).all()
    assert out.layers == [
        f"up_blocks.{i}.attentions.{j}.transformer_blocks.0.attn1" for i in (2, 3) for j in range(3)
    ]
    assert all(pipe.unet.attn_processors[k] is p for k, p in before.items())
    explicit = mc(
        PROMPT,
        toy_concepts(n=2),
        layers=["up_blocks.3.attentions.*.transformer_blocks.*.attn1"],
        style_fidelity=0.5,
        num_inference_steps=2,
        output_type="pt",
    )
    assert len(explicit.layers) == 3


def test_bf16_pipeline_runs():
    from workbench.dummy import dummy_sd_pipeline
    from workbench.runtime import Runtime

    pipe = dummy_sd_pipeline(runtime=Runtime(seed=0, precision="bf16", device="cpu"))
    out = MultiConceptPipeline.from_pipe(pipe)(
        PROMPT, toy_concepts(), num_inference_steps=2, output_type="pt"
    )
    assert torch.isfinite(out.images.float()).all()
