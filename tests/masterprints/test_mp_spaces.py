"""Search spaces: shapes, ranges, projections, the uint8 grid, black-box vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attacks.masterprints import SPACES, build_space


def test_registry_refuses_duplicates():
    with pytest.raises(KeyError, match="already registered"):
        SPACES.register("pixels")(object)
    assert SPACES.names() == ["linf_ball", "pixels", "vae_latent"]


def test_pixel_space(runtime):
    space = build_space({"name": "pixels"}, image_size=32)
    p = space.init(3, runtime.generator("t"))
    assert p.shape == (3, 3, 32, 32) and space.dim == 3 * 32 * 32
    img = space.decode(p * 10)
    assert img.shape == (3, 3, 32, 32) and img.min() >= 0 and img.max() <= 1
    assert torch.equal(space.decode(torch.zeros(1, 3, 32, 32)), torch.full((1, 3, 32, 32), 0.5))
    low = build_space({"name": "pixels", "param_size": 8}, image_size=32)
    assert low.shape == (3, 8, 8) and low.decode(low.init(2, runtime.generator("t"))).shape == (2, 3, 32, 32)
    q = space.quantize(torch.rand(1, 3, 32, 32) - 0.5)
    assert torch.allclose((q + 0.5) * 255, ((q + 0.5) * 255).round(), atol=1e-4)


def test_linf_ball_space_stays_in_the_ball(runtime):
    start = torch.rand(3, 16, 16)
    start = torch.round(start * 255) / 255
    space = build_space({"name": "linf_ball", "eps": 15 / 255}, image_size=16, start_image=start)
    far = torch.randn(4, 3, 16, 16)
    img = space.decode(far)
    assert (img - start).abs().max() <= 15 / 255 + 1e-6 and img.min() >= 0 and img.max() <= 1
    proj = space.project(far)
    assert torch.allclose(space.decode(proj), img)
    q = space.quantize(proj + 0.3 / 255)
    assert torch.allclose((start + q) * 255, ((start + q) * 255).round(), atol=1e-3)
    assert (q.abs() <= 15 / 255 + 1e-6).all()
    assert space.vector_scale == pytest.approx(15 / 255)
    with pytest.raises(ValueError, match="needs a start image"):
        build_space({"name": "linf_ball"}, image_size=16)
    with pytest.raises(ValueError, match="32x32 pixels but the search works at 16x16"):
        build_space({"name": "linf_ball"}, image_size=16, start_image=torch.rand(3, 32, 32))


def test_vae_latent_space_shape_and_range(vae, runtime):
    space = build_space({"name": "vae_latent"}, image_size=32, vae=vae)
    assert space.shape == (4, 16, 16)  # two levels: a factor of 2
    z = space.init(2, runtime.generator("t"))
    x = space.decode(z.requires_grad_(True))
    assert x.shape == (2, 3, 32, 32) and x.min() >= 0 and x.max() <= 1
    x.mean().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in vae.parameters())
    with pytest.raises(ValueError, match="no pixel grid"):
        space.quantize(z)
    with pytest.raises(ValueError, match="needs a VAE"):
        build_space({"name": "vae_latent"}, image_size=32)
    with pytest.raises(ValueError, match="not a multiple"):
        build_space({"name": "vae_latent"}, image_size=33, vae=vae)
    small = build_space({"name": "vae_latent", "latent_size": 8}, image_size=32, vae=vae)
    assert small.shape == (4, 8, 8) and small.decode(small.init(1, runtime.generator("t"))).shape == (
        1,
        3,
        32,
        32,
    )
    large = build_space({"name": "vae_latent", "latent_size": 32}, image_size=32, vae=vae)
    big = large.decode(large.init(1, runtime.generator("t")))  # decoded larger, shrunk to the scorer's size
    assert big.shape == (1, 3, 32, 32) and 0 <= big.min() and big.max() <= 1
    with pytest.raises(ValueError, match="more than 8x"):
        build_space({"name": "vae_latent", "latent_size": 1024}, image_size=32, vae=vae)


@pytest.mark.parametrize("name", ["pixels", "linf_ball", "vae_latent"])
def test_vectors_round_trip(name, vae):
    space = build_space({"name": name}, image_size=32, vae=vae, start_image=torch.rand(3, 32, 32))
    params = torch.randn(3, *space.shape) * 0.01
    vectors = space.to_vectors(params)
    assert vectors.shape == (3, space.dim) and vectors.dtype == np.float64
    assert torch.allclose(space.from_vectors(vectors), params, atol=1e-6)
    with pytest.raises(ValueError, match="expects parameters of shape"):
        space.decode(torch.zeros(1, 5))


def test_sigmoid_pixel_space_keeps_gradients_where_clamp_loses_them(runtime):
    clamp = build_space({"name": "pixels"}, image_size=16)
    sigmoid = build_space({"name": "pixels", "squash": "sigmoid"}, image_size=16)
    assert torch.equal(sigmoid.decode(torch.zeros(1, 3, 16, 16)), torch.full((1, 3, 16, 16), 0.5))
    far = torch.full((1, 3, 16, 16), 3.0)  # saturated: clamped to 1, sigmoid 0.95
    grads = []
    for space in (clamp, sigmoid):
        x = far.clone().requires_grad_(True)
        space.decode(x).sum().backward()
        grads.append(x.grad.abs().sum().item())
    assert grads[0] == 0 and grads[1] > 0
    p = sigmoid.init(2, runtime.generator("t"))
    img = sigmoid.decode(p)
    assert 0 < img.min() and img.max() < 1 and img.std() > 0.2  # uniform noise, as the clamp space starts
    with pytest.raises(ValueError, match="quantise with squash: clamp"):
        sigmoid.quantize(p)
    assert sigmoid.vector_scale == 1.0 and clamp.vector_scale == 0.25


def test_pgd_refuses_logit_pixels(clip_scorer, runtime):
    from attacks.masterprints import MultiPromptObjective, build_optimizer

    space = build_space({"name": "pixels", "squash": "sigmoid"}, image_size=32)
    objective = MultiPromptObjective(clip_scorer, ["a red circle"])
    with pytest.raises(ValueError, match="squash: clamp"):
        build_optimizer({"name": "pgd"}, space, objective, runtime)
    adam = build_optimizer({"name": "adam", "population": 2}, space, objective, runtime)
    assert adam.step().losses.shape == (2,)
