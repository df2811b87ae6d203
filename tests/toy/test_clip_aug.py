"""The decoded-augmented toy CLIP's augmentations and trainer (one step, small batch)."""

from types import SimpleNamespace

import pytest
import torch

from toyworld.train.augment import AugmentConfig, augment, gaussian_blur
from toyworld.train.registry import TRAINERS

NONE = AugmentConfig(decoded=0.0, blur=0.0, noise=0.0, jitter=0.0, texture=0.0)


def _scenes(n=6):
    from toyworld.world import ShapesWorld

    return ShapesWorld(64).batch(0, "val", 0, n, n_objects=(1, 3)).images  # (n, 3, 64, 64)


def test_augment_without_any_augmentation_is_the_identity():
    x = _scenes()
    assert torch.equal(augment(x, NONE, torch.Generator().manual_seed(0)), x)


def test_augment_is_reproducible_keeps_the_range_and_changes_every_image():
    x = _scenes()
    cfg = AugmentConfig(decoded=0.0, blur=1.0, noise=1.0, jitter=1.0, texture=1.0)
    a = augment(x, cfg, torch.Generator().manual_seed(5))
    b = augment(x, cfg, torch.Generator().manual_seed(5))
    assert a.shape == x.shape and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    assert ((a - x).abs().flatten(1).mean(1) > 1e-3).all()


def test_gaussian_blur_keeps_flat_images_and_the_mean_and_smooths_noise():
    flat = torch.full((2, 3, 16, 16), 0.3)
    assert torch.allclose(gaussian_blur(flat, torch.tensor([0.5, 2.0])), flat, atol=1e-6)
    noise = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = gaussian_blur(noise, torch.tensor([0.5, 2.0]))
    assert torch.allclose(out.mean((1, 2, 3)), noise.mean((1, 2, 3)), atol=0.02)
    assert out[1].std() < out[0].std() < noise[0].std()  # a wider blur smooths more


class _HalvingVAE(torch.nn.Module):
    """A stand-in with AutoencoderKL's interface: the latent is the image halved, the decoder doubles it."""

    device = torch.device("cpu")

    def encode(self, x):
        mode = x / 2
        return SimpleNamespace(latent_dist=SimpleNamespace(mode=lambda: mode))

    def decode(self, z):
        return SimpleNamespace(sample=z * 2 + 0.5)  # a visible shift: +0.25 in [0, 1]


def test_augment_round_trips_its_share_through_the_vae():
    x = _scenes(64)
    cfg = AugmentConfig(decoded=0.5, blur=0.0, noise=0.0, jitter=0.0, texture=0.0)
    out = augment(x, cfg, torch.Generator().manual_seed(0), vae=_HalvingVAE())
    shifted = torch.isclose(out, (x + 0.25).clamp(0, 1)).flatten(1).all(1)  # (64,)
    kept = torch.eq(out, x).flatten(1).all(1)
    assert (shifted ^ kept).all() and 16 <= int(shifted.sum()) <= 48


@pytest.mark.parametrize(
    "bad, field",
    [
        (dict(noise=1.5), "noise"),
        (dict(decoded=-0.1), "decoded"),
        (dict(blur_sigma=(0.0, 1.0)), "blur_sigma"),
    ],
)
def test_bad_augmentation_settings_are_refused_by_name(bad, field):
    with pytest.raises(ValueError, match=field):
        AugmentConfig(**bad)


def test_clip_aug_starts_from_the_shipped_clip_trains_on_augmented_images_and_exports(tmp_path):
    from transformers import CLIPModel

    from toyworld.train.registry import MODELS_DIR

    torch.set_num_threads(1)
    trainer = TRAINERS.get("clip-aug")(seed=3, batch_size=4)
    shipped = CLIPModel.from_pretrained(MODELS_DIR / "clip").state_dict()
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    assert all(torch.equal(before[k], shipped[k]) for k in shipped)  # warm start

    batch = trainer.data(0)
    seen = trainer.images(batch, 0)
    assert seen.shape == batch.images.shape and not torch.equal(seen, batch.images)
    assert torch.equal(seen, trainer.images(batch, 0))  # keyed by the step: resumes see the same pixels

    out = trainer.step(0)
    assert all(torch.isfinite(torch.tensor(v)) for v in out.values())
    after = trainer.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)

    trainer.export(tmp_path / "clip-aug", {"steps": 1, "metrics": {}})
    reloaded = CLIPModel.from_pretrained(tmp_path / "clip-aug")
    assert reloaded.config.vision_config.image_size == 64
    assert "decoded-augmented" in (tmp_path / "clip-aug" / "README.md").read_text()


def test_clip_aug_without_a_shipped_clip_says_what_to_train(tmp_path):
    with pytest.raises(FileNotFoundError, match="workbench toy train clip"):
        TRAINERS.get("clip-aug")(batch_size=4, base_dir=tmp_path)


def test_the_preset_names_the_second_toy_clip_and_how_to_train_it():
    from toyworld.presets import CLIP_AUG_DIR
    from workbench.loading import presets, resolve_model

    preset = presets()["toy-clip-aug"]
    assert preset.sources == {"clip": str(CLIP_AUG_DIR)} and CLIP_AUG_DIR.name == "clip-aug"
    assert "workbench toy train clip-aug" in preset.missing["clip"]
    assert resolve_model("toy-clip-aug").source == str(CLIP_AUG_DIR)


def test_toy_eval_evaluates_the_clip_folder_it_is_given(tmp_path):
    from toyworld.cli import register
    from toyworld.evaluate.run import evaluate_all

    out = evaluate_all(n=4, sections=("clip",), clip_dir=tmp_path / "clip-aug")
    assert out["clip"]["available"] is False
    assert str(tmp_path / "clip-aug") in out["clip"]["reason"] and "clip-aug" in out["clip"]["reason"]

    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["toy", "eval", "--only", "clip", "--clip", str(tmp_path)])
    assert args.clip == tmp_path
