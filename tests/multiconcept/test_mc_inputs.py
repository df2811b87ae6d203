"""Bad input gets a clear error or a documented conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from generators.multiconcept import MAX_CONCEPTS, Concept, ConceptError, prepare_concepts

from .conftest import PROMPT, toy_concepts


def test_no_concepts_and_too_many(mc_pipe):
    with pytest.raises(ConceptError, match="no concepts given"):
        mc_pipe(PROMPT, [], num_inference_steps=1)
    many = toy_concepts(n=MAX_CONCEPTS + 1)
    with pytest.raises(ConceptError, match="9 concepts given; at most 8"):
        mc_pipe(PROMPT, many, num_inference_steps=1)
    with pytest.raises(ConceptError, match="must be a list of Concept"):
        mc_pipe(PROMPT, toy_concepts(n=1)[0], num_inference_steps=1)


def test_masks_of_the_wrong_size_or_empty():
    image = torch.rand(3, 32, 32)
    with pytest.raises(ConceptError, match="the mask is 16x16 but its reference image is 32x32"):
        Concept(image, "a dog", torch.ones(16, 16, dtype=torch.bool))
    with pytest.raises(ConceptError, match="the mask is empty"):
        Concept(image, "a dog", torch.zeros(32, 32))
    with pytest.raises(ConceptError, match="one channel"):
        Concept(image, "a dog", torch.ones(3, 32, 32))
    with pytest.raises(ConceptError, match=r"values in \[0, 1\]"):
        Concept(image, "a dog", torch.ones(32, 32) * 2)
    with pytest.raises(ConceptError, match="covers less than one pixel once resized"):
        tiny = torch.zeros(64, 64, dtype=torch.bool)
        tiny[0, 0] = True
        prepare_concepts([Concept(torch.rand(3, 64, 64), "a dot", tiny)], 16, 16)


def test_references_of_another_mode_are_refused_or_converted():
    with pytest.raises(ConceptError, match="alpha channel"):
        Concept(torch.rand(4, 32, 32), "a dog")
    with pytest.raises(ConceptError, match="divide uint8 by 255"):
        Concept(torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8), "a dog")
    with pytest.raises(ConceptError, match=r"\[0, 1\], not \[-1, 1\]"):
        Concept(torch.rand(3, 32, 32) * 2 - 1, "a dog")
    with pytest.raises(ConceptError, match="one reference image per concept"):
        Concept(torch.rand(2, 3, 32, 32), "a dog")
    with pytest.raises(ConceptError, match="prompt must be a string"):
        Concept(torch.rand(3, 32, 32), None)
    grey = Concept(torch.rand(32, 32), "a dog")  # documented: grey -> 3 channels
    assert grey.image.shape == (3, 32, 32) and torch.equal(grey.image[0], grey.image[2])
    rgba = Image.new("RGBA", (20, 10), (255, 0, 0, 0))  # fully transparent red -> white
    c = Concept(rgba, "a dog", np.full((10, 20), 255, dtype=np.uint8))
    assert c.image.shape == (3, 10, 20) and torch.allclose(c.image, torch.ones_like(c.image))
    assert c.mask.dtype == torch.bool and c.mask.all()
    palette = Concept(Image.new("L", (8, 8), 128), "a dog", Image.new("L", (8, 8), 255))
    assert torch.allclose(palette.image, torch.full((3, 8, 8), 128 / 255))
    as_dict = prepare_concepts([{"image": torch.rand(3, 8, 8), "prompt": "a dog"}], 8, 8)
    assert as_dict.prompts == ["a dog"] and as_dict.masks.all()


def test_references_of_another_size_are_resized(mc_pipe):
    big = toy_concepts(size=48)  # 48x48 references for a 32x32 generation
    prepared = prepare_concepts(big, 32, 32)
    assert prepared.images.shape == (2, 3, 32, 32) and prepared.masks.shape == (2, 32, 32)
    assert 0 < prepared.masks[0].float().mean() < 0.5
    out = mc_pipe(PROMPT, big, num_inference_steps=1, output_type="pt")
    assert out.images.shape == (1, 3, 32, 32)


def test_bad_mrsa_settings(mc_pipe, concepts):
    with pytest.raises(ValueError, match="2 concepts"):
        mc_pipe(PROMPT, concepts, mask_weights=[1.0, 2.0, 3.0], num_inference_steps=1)
    with pytest.raises(ValueError, match="style_fidelity"):
        mc_pipe(PROMPT, concepts, style_fidelity=2.0, num_inference_steps=1)
    with pytest.raises(ValueError, match="start_step"):
        mc_pipe(PROMPT, concepts, start_step=3, end_step=1, num_inference_steps=1)
    with pytest.raises(ValueError, match="matches no attention layer"):
        mc_pipe(PROMPT, concepts, layers="up_blocks.7.**.attn1", num_inference_steps=1)
    with pytest.raises(ValueError, match="cross-attention"):
        mc_pipe(PROMPT, concepts, layers="**.attn2", num_inference_steps=1)
