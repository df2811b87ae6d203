"""The inversion-encoder trainer of the toy VAE: trains only the encoder, reduces ``|E(D(z)) - z|``, resumes."""

from __future__ import annotations

import pytest
import torch

from toyworld.train.vae_inv import InversionEncoderTrainer, degrade, latent_error, ring_error

TINY = dict(generations=33, held_out=32, generation_steps=1, guidance_scales=(1.0,), batch_size=4, lr=5e-3)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("vae-inv") / "latents.pt"


def _reproduction(t: InversionEncoderTrainer) -> float:
    x, z = t.images[:1], t.latents[:1]  # the one training generation
    with torch.no_grad():
        return float(((t._encode(t.vae, degrade(x, torch.Generator().manual_seed(0), 0.0)) - z) ** 2).mean())


def test_steps_train_only_the_encoder_and_reduce_the_reproduction_loss(cache):
    t = InversionEncoderTrainer(cache_path=cache, **TINY)
    assert cache.exists() and t.latents.shape == (33, 4, 16, 16)
    decoder = {
        k: v.clone() for k, v in t.vae.state_dict().items() if k.startswith(("decoder.", "post_quant"))
    }
    before = _reproduction(t)
    for step in range(6):
        out = t.step(step)
    assert set(out) == {"loss", "reproduce", "low", "anchor"}
    assert _reproduction(t) < 0.8 * before
    for k, v in t.vae.state_dict().items():
        if k in decoder:
            assert torch.equal(v, decoder[k]), k  # the decoder (so every generation) is unchanged
    again = InversionEncoderTrainer(cache_path=cache, **TINY)  # the cache is read, not generated again
    assert torch.equal(again.latents, t.latents)
    again.load_state_dict(t.state_dict())  # resumable like the other toy trainers
    assert torch.equal(again.vae.encoder.conv_in.weight, t.vae.encoder.conv_in.weight)
    metrics = t.evaluate()  # per channel and, on the drawn channels, per spectrum ring
    assert {"latent_error_ch0", "ring_error_ch0_r4-6", "ring_error_ch0_r6-inf_original"} <= set(metrics)
    assert not any(k.startswith("ring_error_ch2") for k in metrics)  # the decoder does not draw channel 2


def test_a_stopped_generation_resumes_from_its_partial_file(cache, tmp_path):
    full = InversionEncoderTrainer(
        cache_path=cache, **TINY
    ).latents  # (33, 4, 16, 16), cached by the test above
    key = torch.load(cache, weights_only=True)["key"]
    path = tmp_path / "latents.pt"
    marked = full[:32] + 1.0  # the first chunk as a stopped run left it (marked: it must be kept, not redone)
    torch.save({"key": key, "latents": marked}, path.with_name("latents.pt.partial"))
    resumed = InversionEncoderTrainer(cache_path=path, **TINY).latents
    assert torch.equal(resumed[:32], marked)
    assert torch.allclose(resumed[32:], full[32:], atol=1e-5)  # the rest generated as in one go
    assert path.exists() and not path.with_name("latents.pt.partial").exists()


def test_degrade_quantises_and_latent_error_is_per_channel():
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = degrade(x, torch.Generator().manual_seed(0), resize_prob=0.0)
    assert torch.allclose(y * 255, (y * 255).round(), atol=1e-4) and (y - x).abs().max() <= 0.5 / 255 + 1e-6
    z = torch.randn(2, 4, 4, 4)
    err = latent_error(z + 0.1 * z * torch.tensor([0, 1, 2, 3.0]).view(1, 4, 1, 1), z)
    assert torch.allclose(err, torch.tensor([0.0, 0.1, 0.2, 0.3]), atol=1e-5)


def test_ring_error_puts_an_error_in_the_ring_of_its_frequency():
    z = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    scaled = ring_error(z * (1 + 0.1 * torch.arange(4.0).view(1, 4, 1, 1)), z)  # (C, R): even in every ring
    assert scaled.shape == (4, 5) and torch.allclose(scaled, 0.1 * torch.arange(4.0).view(4, 1).expand(4, 5))
    wave = torch.cos(2 * torch.pi * 5 * torch.arange(16.0) / 16).view(
        1, 1, 1, 16
    )  # frequency 5: ring 4 < r <= 6
    rings = ring_error(z + wave, z)
    assert (rings[:, 3] > 0.1).all() and torch.allclose(rings[:, [0, 1, 2, 4]], torch.zeros(4, 4), atol=1e-5)


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="anchor_weight"):
        InversionEncoderTrainer(anchor_weight=-1.0, cache_path=tmp_path / "c.pt")
    with pytest.raises(ValueError, match="generations must exceed"):
        InversionEncoderTrainer(generations=8, held_out=32, cache_path=tmp_path / "c.pt")
    with pytest.raises(ValueError, match="generations must exceed"):
        InversionEncoderTrainer(generations=64, held_out=0, cache_path=tmp_path / "c.pt")
    with pytest.raises(FileNotFoundError, match="no toy VAE"):
        InversionEncoderTrainer(base_dir=tmp_path, cache_path=tmp_path / "c.pt")
