import pytest
import torch

from toyworld.textures import texture_batch


def test_textures_are_reproducible_images_with_high_frequencies():
    scenes = torch.rand(32, 3, 32, 32)
    a = texture_batch(32, 32, torch.Generator().manual_seed(0), scenes=scenes)
    b = texture_batch(32, 32, torch.Generator().manual_seed(0), scenes=scenes)
    c = texture_batch(32, 32, torch.Generator().manual_seed(1), scenes=scenes)
    assert a.shape == (32, 3, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    # neighbouring pixels differ far more than in a flat-coloured shapes scene
    assert (a[..., 1:] - a[..., :-1]).abs().mean() > 0.03


def test_textures_without_scenes_skip_the_overlay():
    x = texture_batch(8, 16, torch.Generator().manual_seed(0))
    assert x.shape == (8, 3, 16, 16)


def test_bad_texture_requests_are_refused():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="n >= 1"):
        texture_batch(0, 16, g)
    with pytest.raises(ValueError, match="scenes must be"):
        texture_batch(4, 16, g, scenes=torch.rand(4, 3, 32, 32))


def test_texture_vae_starts_as_the_toy_vae_and_keeps_its_latent_space():
    from toyworld.train.vae_ft import TextureVAETrainer

    torch.set_num_threads(1)
    trainer = TextureVAETrainer(batch_size=4)
    x = trainer.eval_scenes[:2] * 2 - 1
    with torch.no_grad():
        assert torch.equal(trainer.vae.encode(x).latent_dist.mean, trainer.base.encode(x).latent_dist.mean)
    out = trainer.step(0)
    assert out["anchor"] == 0.0  # the first step compares identical encoders
    assert all(not p.requires_grad for p in trainer.base.parameters())
    metrics = trainer.evaluate()
    assert metrics["latent_rms_shift"] < 0.05 and metrics["psnr_scene"] > 25


def test_texture_vae_needs_the_toy_vae_and_a_mixed_batch(tmp_path):
    from toyworld.train.vae_ft import TextureVAETrainer

    with pytest.raises(FileNotFoundError, match="workbench toy train vae"):
        TextureVAETrainer(base_dir=tmp_path)
    for bad in (dict(texture_fraction=0.0), dict(texture_fraction=1.0), dict(batch_size=1)):
        with pytest.raises(ValueError, match="no scenes or no textures"):
            TextureVAETrainer(**bad)
    with pytest.raises(ValueError, match="anchor_weight"):
        TextureVAETrainer(anchor_weight=-1.0)
