"""VAE regeneration, diffusion regeneration and visual paraphrase on a tiny random-weight SD img2img."""

from __future__ import annotations

import pytest
import torch

from attacks.image import AttackModels, build_attack
from attacks.paraphrase import FixedCaptioner, VisualParaphrase, vae_roundtrip

from .conftest import generators


class CountingCaptioner:
    """A captioner that records each call (batch sizes); the caption depends on the image only."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def caption(self, images: torch.Tensor) -> list[str]:
        self.calls.append(images.shape[0])
        return ["a red circle" if float(image[0].mean()) > 0.5 else "a green star" for image in images]


@pytest.fixture
def models(img2img_pipe):
    return AttackModels(img2img={"toy": img2img_pipe}, captioners={"toy": CountingCaptioner()})


@pytest.mark.parametrize(
    "name, extra",
    [
        ("vae_regen", {}),
        ("diffusion_regen", {"num_inference_steps": 4}),
        ("paraphrase", {"num_inference_steps": 4}),
    ],
)
def test_model_attacks_interface(name, extra, models):
    images = torch.rand(3, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    attack = build_attack(name, models=models, strength=0.5, **extra)
    a = attack(images, generators(3))
    b = attack(images, generators(3))
    assert a.shape == images.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, b)
    single = attack(images[2:], generators(3)[2:])
    torch.testing.assert_close(single, a[2:], atol=1e-4, rtol=0)
    other = attack(images, generators(3, seed=10))
    if name != "vae_regen" or attack.latent_noise > 0:
        assert not torch.equal(a, other)  # the generator drives the noise


def test_paraphrase_captions_the_batch_once_and_uses_the_captions(models, img2img_pipe):
    captioner = models.captioner("toy")
    attack = VisualParaphrase(strength=0.5, num_inference_steps=4, models=models)
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    out = attack(images, generators(4))
    assert captioner.calls == [4]
    assert attack.last_captions == captioner.caption(images) and captioner.calls == [4, 4]
    captioner.calls.pop()
    # given captions skip the captioner and change the result (the text conditions the UNet)
    gt = attack(images, generators(4), captions=["a blue square"] * 4)
    assert captioner.calls == [4] and attack.last_captions == ["a blue square"] * 4
    assert not torch.allclose(out, gt)
    # a user caption in the config
    fixed = VisualParaphrase(strength=0.5, num_inference_steps=4, caption="a blue square", models=models)
    torch.testing.assert_close(fixed(images, generators(4)), gt)
    with pytest.raises(ValueError, match="2 captions for 4 images"):
        attack(images, generators(4), captions=["a", "b"])


def test_paraphrase_guidance_and_strength_change_the_output(models):
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    base = VisualParaphrase(strength=0.5, guidance_scale=5.0, num_inference_steps=4, models=models)
    a = base(images, generators(2))
    b = VisualParaphrase(strength=0.5, guidance_scale=1.0, num_inference_steps=4, models=models)(
        images, generators(2)
    )
    c = base.with_strength(1.0)(images, generators(2))
    assert not torch.allclose(a, b) and not torch.allclose(a, c)
    assert base.with_strength(0.25).parameters()["denoising_steps"] == 1


def test_strength_without_denoising_steps_is_the_vae_round_trip(models, img2img_pipe):
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    for name in ("paraphrase", "diffusion_regen"):
        extra = {"caption": "x"} if name == "paraphrase" else {}
        out = build_attack(name, models=models, strength=0.0, num_inference_steps=4, **extra)
        torch.testing.assert_close(out(images), vae_roundtrip(img2img_pipe, images), atol=1e-5, rtol=0)
    vae = build_attack("vae_regen", models=models, strength=0.0)
    torch.testing.assert_close(vae(images), vae_roundtrip(img2img_pipe, images), atol=1e-5, rtol=0)


def test_paraphrase_decoder_inversion_starts_from_latents_that_decode_closer(models, img2img_pipe):
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    plain = VisualParaphrase(strength=0.0, caption="x", models=models)
    fitted = VisualParaphrase(strength=0.0, caption="x", decoder_inversion_steps=20, models=models)
    err = lambda out: float((out - images).pow(2).mean())  # noqa: E731
    assert err(fitted(images)) < 0.9 * err(plain(images))  # the round trip comes closer to the image
    assert fitted.parameters()["decoder_inversion_steps"] == 20
    # with denoising steps the fitted latents start the img2img pipeline (4-channel input = latents)
    a = VisualParaphrase(strength=0.5, num_inference_steps=4, caption="x", models=models)(
        images, generators(2)
    )
    b = VisualParaphrase(
        strength=0.5, num_inference_steps=4, caption="x", decoder_inversion_steps=5, models=models
    )(images, generators(2))
    assert a.shape == b.shape == images.shape and not torch.allclose(a, b)
    with pytest.raises(ValueError):
        VisualParaphrase(decoder_inversion_steps=-1, models=models)


def test_resolution_rule(models, img2img_pipe):
    """At "native" the pipeline runs at its training size; the output comes back at the input size."""
    seen = []

    def spy(module, args, kwargs):
        seen.append(tuple(kwargs.get("sample", args[0] if args else None).shape[-2:]))

    handle = img2img_pipe.unet.register_forward_pre_hook(spy, with_kwargs=True)
    try:
        images = torch.rand(1, 3, 64, 80)
        out = VisualParaphrase(strength=0.5, num_inference_steps=2, caption="x", models=models)(
            images, generators(1)
        )
        assert out.shape == images.shape and seen[-1] == (16, 16)
        VisualParaphrase(strength=0.5, num_inference_steps=2, caption="x", resolution="input", models=models)(
            images, generators(1)
        )
        assert seen[-1] == (32, 40)
    finally:
        handle.remove()
    with pytest.raises(ValueError, match="multiple of 2"):
        VisualParaphrase(strength=0.5, num_inference_steps=2, caption="x", resolution=33, models=models)(
            images
        )


def test_fixed_captioner():
    assert FixedCaptioner("").caption(torch.rand(3, 3, 8, 8)) == ["", "", ""]


def test_sweep_captions_once_and_matches_single_settings(models):
    from attacks.paraphrase import paraphrase_sweep

    captioner = models.captioner("toy")
    attack = VisualParaphrase(num_inference_steps=4, models=models)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    grid = paraphrase_sweep(attack, images, [0.25, 0.5], [1.0, 5.0], lambda s, g: generators(2))
    assert sorted(grid) == [(0.25, 1.0), (0.25, 5.0), (0.5, 1.0), (0.5, 5.0)]
    assert captioner.calls == [2]
    single = VisualParaphrase(strength=0.5, guidance_scale=5.0, num_inference_steps=4, models=models)(
        images, generators(2)
    )
    torch.testing.assert_close(grid[(0.5, 5.0)], single)
    assert not torch.allclose(grid[(0.5, 1.0)], grid[(0.5, 5.0)])
