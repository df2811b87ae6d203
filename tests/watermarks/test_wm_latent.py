"""Tree-Ring and Gaussian Shading on a tiny random-weight Stable Diffusion pipeline.

Random weights make the VAE lossy, so detection through images is only checked for running; the
key logic is checked exactly in latent space and through the DDIM generate / invert loop."""

from __future__ import annotations

import pytest
import torch

from attacks.watermarks import Watermark, build_watermark
from attacks.watermarks.inversion import invert_latents

from .conftest import generators

STEPS = {"num_inference_steps": 4, "inversion_steps": 4}


@pytest.fixture
def treering(txt2img_pipe):
    return build_watermark("treering", pipe=txt2img_pipe, **STEPS)


@pytest.fixture
def shading(txt2img_pipe):
    return build_watermark("gaussian_shading", pipe=txt2img_pipe, hw_factor=4, **STEPS)


def test_key_is_exact_in_latent_space(treering, shading):
    noise = torch.randn(8, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    payload = shading.payload.expand(8, -1)
    assert shading.num_bits == 64
    marked = shading.watermark_latents(noise, payload)
    assert torch.equal(shading.decode_latents(marked), payload)
    assert torch.equal(marked.abs(), noise.abs())  # only signs change: still standard normal
    assert float(shading.score_latents(noise, shading.payload).mean()) < 0.75

    tr = treering.watermark_latents(noise, torch.zeros(8, 0))
    assert tr.dtype == torch.float32 and not tr.is_complex()
    assert float(treering.distance(tr).max()) < 1e-4
    assert float(treering.distance(noise).min()) > 1.0
    assert treering.decode_latents(tr).shape == (8, 0)
    assert 0.8 < float(tr.std()) < 1.2


@pytest.mark.parametrize("which", ["treering", "shading"])
def test_detected_through_ddim_generation_and_inversion(which, treering, shading):
    wm = treering if which == "treering" else shading
    batch = 4
    payload = wm.payload.expand(batch, -1)
    marked = wm.initial_latents(batch, generators(batch), payload)
    clean = torch.randn(batch, 4, 16, 16, generator=torch.Generator().manual_seed(9))
    scores = []
    for z in (marked, clean):
        final = wm.ddim(
            prompt=[""] * batch, latents=z, num_inference_steps=4, guidance_scale=1.0, output_type="latent"
        ).images
        scores.append(wm.score_latents(invert_latents(wm.ddim, final, 4), wm.payload))
    assert float(scores[0].min()) > float(scores[1].max())


@pytest.mark.parametrize("which", ["treering", "shading"])
def test_generate_embed_decode_shapes(which, treering, shading):
    wm = treering if which == "treering" else shading
    images = wm.generate(prompts=["a red circle", "a blue square"], generator=generators(2))
    assert images.shape == (2, 3, 32, 32) and float(images.min()) >= 0 and float(images.max()) <= 1
    again = wm.generate(prompts=["a red circle", "a blue square"], generator=generators(2))
    assert torch.equal(images, again)
    bits, scores = wm.analyse(images)
    assert bits.shape == (2, wm.num_bits) and scores.shape == (2,)
    assert torch.isfinite(scores).all()
    posthoc = wm.embed(torch.rand(1, 3, 48, 48))
    assert posthoc.shape == (1, 3, 48, 48)


def test_gaussian_shading_payload_per_image(shading):
    first = torch.zeros(64)
    second = torch.ones(64)
    latents = shading.initial_latents(2, generators(2), torch.stack([first, second]))
    assert torch.equal(shading.decode_latents(latents), torch.stack([first, second]))
    with pytest.raises(ValueError, match="must have 64 bits"):
        shading.generate(prompts=["x"], payload_bits="01")


def test_key_on_every_channel(txt2img_pipe):
    wm = build_watermark("treering", pipe=txt2img_pipe, channel=-1, radius=3, **STEPS)
    _, mask = wm.key
    assert mask.shape == (4, 16, 16) and all(mask[c].sum() == 29 for c in range(4))  # 29 bins in a disc of 3
    noise = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    marked = wm.watermark_latents(noise, torch.zeros(2, 0))
    assert float(wm.distance(marked).max()) < 1e-4 < float(wm.distance(noise).min())
    with pytest.raises(ValueError, match="or -1"):
        _ = build_watermark("treering", pipe=txt2img_pipe, channel=4).key


def test_bad_factor_and_radius(txt2img_pipe):
    with pytest.raises(ValueError, match="not divisible"):
        _ = build_watermark("gaussian_shading", pipe=txt2img_pipe, hw_factor=3).num_bits
    with pytest.raises(ValueError, match="radius must be in"):
        _ = build_watermark("treering", pipe=txt2img_pipe, radius=8).key


def test_key_files(tmp_path, treering, shading, txt2img_pipe):
    for wm in (treering, shading):
        path = wm.save_key(tmp_path / f"{wm.name}.json")
        again = Watermark.load_key(path, pipe=txt2img_pipe)
        assert again.fingerprint() == wm.fingerprint()
        assert torch.equal(again.payload, wm.payload)
    other = build_watermark("treering", pipe=txt2img_pipe, seed=1, **STEPS)
    assert other.fingerprint() != treering.fingerprint()


def test_decoder_inversion_fits_the_image_and_leaves_the_vae_as_it_was(txt2img_pipe):
    from workbench.latents import encode_images, refine_latents

    vae = txt2img_pipe.vae
    sf = vae.config.scaling_factor
    with torch.no_grad():
        z = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0))
        images = vae.decode(z / sf).sample.add(1).div(2).clamp(0, 1)  # (2, 3, H, W)
        start = encode_images(txt2img_pipe, images)
    before = {k: v.clone() for k, v in vae.state_dict().items()}
    flags = [p.requires_grad for p in vae.parameters()]

    def error(latents):
        with torch.no_grad():
            return torch.nn.functional.mse_loss(vae.decode(latents / sf).sample, images * 2 - 1).item()

    refined = refine_latents(txt2img_pipe, start, images, steps=30, lr=0.05)
    assert refined.shape == start.shape and error(refined) < 0.5 * error(start)
    assert torch.equal(refine_latents(txt2img_pipe, start, images, steps=0), start)
    alone = torch.cat(
        [refine_latents(txt2img_pipe, start[i : i + 1], images[i : i + 1], 30, 0.05) for i in (0, 1)]
    )
    assert torch.allclose(alone, refined, atol=1e-4)  # batching does not change the fit
    assert all(torch.equal(v, before[k]) for k, v in vae.state_dict().items())
    assert [p.requires_grad for p in vae.parameters()] == flags
    wm = build_watermark(
        "gaussian_shading", pipe=txt2img_pipe, hw_factor=4, decoder_inversion_steps=2, **STEPS
    )
    assert wm.invert(images).shape == (2, 4, 16, 16)
    with pytest.raises(ValueError, match="decoder_inversion_steps"):
        build_watermark("gaussian_shading", pipe=txt2img_pipe, decoder_inversion_steps=-1)


def test_decoder_inversion_fits_an_upscaled_image_through_the_resize(txt2img_pipe):
    from attacks.image.ops import resize
    from workbench.latents import encode_images, refine_latents

    vae = txt2img_pipe.vae
    sf = vae.config.scaling_factor
    with torch.no_grad():
        z = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0))
        small = vae.decode(z / sf).sample.add(1).div(2).clamp(0, 1)  # (2, 3, H, W)
        big = resize(small, (2 * small.shape[-2], 2 * small.shape[-1]))  # (2, 3, 2H, 2W)
        start = encode_images(txt2img_pipe, resize(big, small.shape[-2:]))

    def error(latents):  # the fit at the given (upscaled) size
        with torch.no_grad():
            out = vae.decode(latents / sf).sample.add(1).div(2).clamp(0, 1)
            return torch.nn.functional.mse_loss(resize(out, big.shape[-2:]), big).item()

    refined = refine_latents(txt2img_pipe, start, big, steps=30, lr=0.05)
    assert refined.shape == start.shape == (2, 4, 16, 16) and error(refined) < 0.5 * error(start)
    common = {"hw_factor": 4, "decoder_inversion_steps": 2, **STEPS}
    at_input = build_watermark(
        "gaussian_shading", pipe=txt2img_pipe, decoder_inversion_size="input", **common
    )
    at_model = build_watermark("gaussian_shading", pipe=txt2img_pipe, **common)
    assert at_input.invert(big).shape == (2, 4, 16, 16)
    assert not torch.equal(at_input.invert(big), at_model.invert(big))
