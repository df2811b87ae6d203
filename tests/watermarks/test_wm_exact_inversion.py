"""Exact (fixed-point) DDIM inversion on a tiny random-weight pipeline: guided generations are inverted
to their own initial noise, more exactly with each refinement than by plain DDIM inversion."""

from __future__ import annotations

import pytest
import torch

from attacks.watermarks import build_watermark
from attacks.watermarks.exact_inversion import exact_invert_latents
from attacks.watermarks.inversion import empty_prompt_embeds

from .conftest import generators


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)).mean())


@pytest.fixture
def ddim(txt2img_pipe):
    return build_watermark("treering", pipe=txt2img_pipe, num_inference_steps=4).ddim


@pytest.mark.slow
@pytest.mark.parametrize("guidance", [1.0, 5.0])
def test_fixed_point_inverts_guided_generation(ddim, guidance):
    prompts = ["a red circle", "a blue square"]
    start = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(3))
    final = ddim(
        prompt=prompts, latents=start, num_inference_steps=4, guidance_scale=guidance, output_type="latent"
    ).images  # (2, 4, 16, 16)
    cond, uncond = ddim.encode_prompt(prompts, ddim.device, 1, True)
    errors = [
        _relative_error(exact_invert_latents(ddim, final, 4, cond, uncond, guidance, k), start)
        for k in (0, 2, 20)
    ]
    assert errors[2] < 1e-3, errors  # converged: the generation's own initial noise
    assert errors[2] < errors[1] < errors[0], errors


def test_bad_iterations(ddim):
    latents = torch.randn(1, 4, 16, 16)
    with pytest.raises(ValueError, match="iterations must be >= 0"):
        exact_invert_latents(ddim, latents, 4, empty_prompt_embeds(ddim, 1), iterations=-1)


def test_exact_inversion_settings_reach_detection(txt2img_pipe):
    common = {"num_inference_steps": 4, "inversion_steps": 4, "guidance_scale": 3.0}
    plain = build_watermark("treering", pipe=txt2img_pipe, **common)
    exact = build_watermark(
        "treering", pipe=txt2img_pipe, inversion="exact", inversion_iterations=2, **common
    )
    images = plain.generate(prompts=["a red circle"], generator=generators(1))
    assert exact.invert(images).shape == plain.invert(images).shape == (1, 4, 16, 16)
    assert not torch.equal(exact.invert(images), plain.invert(images))
    fixed = build_watermark(
        "treering",
        pipe=txt2img_pipe,
        inversion="exact",
        inversion_prompt="caption",
        captioner="fixed:a red circle",
        inversion_guidance_scale=None,
        **common,
    )
    assert fixed.inversion_prompts(images) == ["a red circle"]
    assert torch.isfinite(fixed.score(images)).all()
