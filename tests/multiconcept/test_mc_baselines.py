"""The baselines: text-only prompt and pipeline, collage img2img."""

from __future__ import annotations

import torch

from generators.multiconcept import Concept
from generators.multiconcept.collage import collage_pipeline, default_boxes, make_collage
from generators.multiconcept.text_only import text_only_pipeline, text_only_prompt

from .conftest import PROMPT, gen


def test_text_only_prompt_and_pipeline(sd_pipe, mc_pipe, concepts):
    assert text_only_prompt(PROMPT, concepts) == PROMPT
    assert (
        text_only_prompt("a scene", concepts, True) == "a scene, with a large red circle, a large blue star"
    )
    assert text_only_pipeline(sd_pipe) is sd_pipe
    txt = text_only_pipeline(mc_pipe)
    assert type(txt).__name__ == "StableDiffusionPipeline" and txt.unet is sd_pipe.unet
    a = txt(PROMPT, num_inference_steps=2, generator=gen(1), output_type="pt").images
    b = sd_pipe(PROMPT, num_inference_steps=2, generator=gen(1), output_type="pt").images
    assert torch.equal(a, b)


def test_collage_pastes_masked_pixels_into_boxes():
    red = torch.zeros(3, 20, 20)
    red[0, 5:15, 5:15] = 1.0  # a red square on black
    mask = red[0] > 0
    blue = torch.zeros(3, 10, 30)
    blue[2] = 1.0
    concepts = [Concept(red, "red", mask), Concept(blue, "blue")]
    canvas = make_collage(
        concepts, 40, 80, boxes=[(0.1, 0.25, 0.4, 0.75), (0.5, 0.25, 1.0, 0.75)], background=(0.5, 0.5, 0.5)
    )
    assert canvas.shape == (3, 40, 80)
    assert torch.allclose(canvas[:, 20, 20], torch.tensor([1.0, 0.0, 0.0]), atol=1e-3)  # red square, left box
    assert torch.allclose(
        canvas[:, 20, 60], torch.tensor([0.0, 0.0, 1.0]), atol=1e-3
    )  # blue strip, right box
    assert torch.allclose(canvas[:, 2, 2], torch.tensor([0.5, 0.5, 0.5]))  # background
    assert torch.allclose(canvas[:, 5, 60], torch.tensor([0.5, 0.5, 0.5]))  # above the blue box
    # default background: the median outside the masks (black here), default boxes: strips
    auto = make_collage(concepts, 40, 80)
    assert torch.allclose(auto[:, 1, 1], torch.zeros(3))
    assert default_boxes(2)[0][2] <= 0.5 <= default_boxes(2)[1][0]


def test_collage_img2img_runs(sd_pipe, concepts):
    i2i = collage_pipeline(sd_pipe)
    assert i2i.unet is sd_pipe.unet
    image = make_collage(concepts, 32, 32)[None]
    out = i2i(
        PROMPT, image=image, strength=0.7, num_inference_steps=4, generator=gen(0), output_type="pt"
    ).images
    assert out.shape == (1, 3, 32, 32)
