"""Neighbour blending (``mode="blend"``): the top neighbour's subject moved to its box and held there."""

from __future__ import annotations

import pytest
import torch

from generators.retrieval import RetrievalAugmentedPipeline, retrieve
from generators.retrieval.blend import BlendConfig, NeighbourBlend, subject_canvas
from workbench.latents import encode_images

PROMPTS = ["a zorvik emblem on the left", "a xandro emblem at the top and a small red circle"]
TARGETS = [(0.0, 0.25, 0.5, 0.75), (0.25, 0.0, 0.75, 0.5)]


@pytest.fixture(scope="module")
def pipe(sd_pipe):
    p = RetrievalAugmentedPipeline.from_pipe(sd_pipe)
    p.set_progress_bar_config(disable=True)
    return p


def test_subject_canvas_moves_the_subject_to_its_box():
    image = torch.zeros(3, 64, 64)
    image[0, :32, :32] = 1.0  # a red subject in the top-left quarter
    canvas, mask = subject_canvas(image, (0.0, 0.0, 0.5, 0.5), (0.5, 0.5, 1.0, 1.0), 32, 32, (0.1, 0.1, 0.1))
    assert canvas.shape == (3, 32, 32) and mask.shape == (32, 32)
    assert torch.allclose(canvas[:, 16:, 16:], torch.tensor([1.0, 0.0, 0.0])[:, None, None].expand(3, 16, 16))
    assert torch.allclose(canvas[:, :16], torch.full((3, 16, 32), 0.1))
    assert mask.sum() == 16 * 16 and mask[16:, 16:].all()
    same, _ = subject_canvas(image, (0.0, 0.0, 0.5, 0.5), None, 64, 64, (0.0, 0.0, 0.0))
    assert torch.equal(same, image)  # no target: the subject stays where it is
    with pytest.raises(ValueError, match="target_box .* inside \\[0, 1\\]"):
        subject_canvas(image, None, (0.5, 0.5, 1.2, 1.0), 32, 32)


def test_blend_holds_the_subject_latents_in_the_box(pipe, kb):
    neighbours = retrieve(kb, PROMPTS, k=2)
    config = {"fraction": 1.0, "inversion_steps": 0}
    out = pipe(
        PROMPTS,
        neighbours=neighbours,
        mode="blend",
        target_boxes=TARGETS,
        blend=config,
        num_inference_steps=3,
        generator=[torch.Generator().manual_seed(i) for i in range(2)],
        output_type="latent",
    )
    assert out.mode == "blend"
    blend = NeighbourBlend.build(
        pipe,
        [n.images[0] for n in neighbours],
        [n.boxes[0] for n in neighbours],
        TARGETS,
        32,
        32,
        BlendConfig(**config),
    )
    latents = out.images  # (2, 4, 16, 16)
    inside, outside = blend.masks.expand_as(latents), ~blend.masks.expand_as(latents)
    assert torch.allclose(latents[inside], blend.latents[inside])
    assert not torch.allclose(latents[outside], blend.latents[outside])
    canvas = torch.stack(
        [subject_canvas(n.images[0], n.boxes[0], t, 32, 32)[0] for n, t in zip(neighbours, TARGETS)]
    )
    assert torch.allclose(blend.latents, encode_images(pipe, canvas))  # no inversion: the encoder's latents


def test_blend_fraction_zero_is_plain_generation_and_errors(pipe, kb):
    neighbours = retrieve(kb, PROMPTS, k=2)
    kw = {"num_inference_steps": 2, "output_type": "pt"}
    plain = pipe(PROMPTS, generator=[torch.Generator().manual_seed(i) for i in range(2)], **kw).images
    out = pipe(
        PROMPTS,
        neighbours=neighbours,
        mode="blend",
        blend={"fraction": 0.0, "inversion_steps": 0},
        generator=[torch.Generator().manual_seed(i) for i in range(2)],
        **kw,
    ).images
    assert torch.equal(out, plain)
    with pytest.raises(ValueError, match="2 target boxes for 1 prompts"):
        pipe(
            PROMPTS[:1], neighbours=neighbours[:1], mode="blend", target_boxes=TARGETS, num_inference_steps=1
        )
    with pytest.raises(ValueError, match="mode must be"):
        pipe(PROMPTS, neighbours=neighbours, mode="paste", num_inference_steps=1)
    with pytest.raises(ValueError):
        BlendConfig(fraction=1.5)
