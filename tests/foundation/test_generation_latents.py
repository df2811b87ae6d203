"""Generators start from the initial latents a request gives (``GenerationRequest.latents``), as the
generation-time watermarks need: the noise a generator would draw itself gives its own image back, other
latents another image; a generator that cannot take them refuses them with a one-line reason."""

from __future__ import annotations

import pytest
import torch

from apps.studies.watermarks.scenes import conditions, study_scenes
from workbench.dummy import dummy_sd_pipeline
from workbench.generation import GENERATORS, GenerationRequest, build_generator
from workbench.plugins import load_plugins

SIZE = 32


@pytest.fixture(scope="module")
def pipe():
    from attacks.watermarks.inversion import ddim_pipeline

    return ddim_pipeline(dummy_sd_pipeline(image_size=SIZE))


def _request(pipe, name: str, latents: torch.Tensor | None) -> GenerationRequest:
    scenes = study_scenes(0, 1)
    cond = conditions(GENERATORS.get(name).requires, scenes, SIZE, neighbours=None)
    return GenerationRequest(
        [s.prompt for s in scenes],
        [torch.Generator().manual_seed(7)],
        num_inference_steps=2,
        guidance_scale=5.0,
        height=SIZE,
        width=SIZE,
        conditions=cond,
        latents=latents,
    )


def _own_noise(pipe) -> torch.Tensor:
    """The latents a pipeline draws from ``manual_seed(7)`` itself (diffusers' ``randn_tensor``)."""
    c, h = pipe.unet.config.in_channels, SIZE // pipe.vae_scale_factor
    return torch.randn((1, c, h, h), generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize("name", ["stock", "regions", "box_guidance", "freecustom", "text"])
def test_a_generator_starts_from_the_given_latents(pipe, name):
    load_plugins()
    generator = build_generator(name, pipe)
    assert generator.takes_latents
    own = generator(_request(pipe, name, None))
    same = generator(_request(pipe, name, _own_noise(pipe)))
    other = generator(_request(pipe, name, -_own_noise(pipe)))
    assert torch.allclose(own, same, atol=1e-5)
    assert (own - other).abs().max() > 1e-3


def test_latents_are_checked_and_refused_where_not_taken(pipe):
    with pytest.raises(ValueError, match="one .* latent per prompt"):
        GenerationRequest(["a", "b"], [torch.Generator()] * 2, latents=torch.zeros(1, 4, 8, 8))
    load_plugins()
    collage = build_generator("collage", pipe)
    assert not collage.takes_latents
    with pytest.raises(ValueError, match="does not start from given initial latents"):
        collage(_request(pipe, "collage", _own_noise(pipe)))
