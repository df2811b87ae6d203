"""The pixel-space attacks: interface, strength mapping, determinism, bad inputs."""

from __future__ import annotations

import json
import math

import pytest
import torch
from pydantic import ValidationError

from attacks.image import IMAGE_ATTACKS, build_attack
from attacks.image.base import check_images

from .conftest import generators

PIXEL_ATTACKS = ["jpeg", "blur", "noise", "resize", "crop", "rotation", "brightness", "contrast", "combo"]
MODEL_ATTACKS = ["vae_regen", "diffusion_regen", "paraphrase"]


def test_registry_holds_every_attack():
    assert set(IMAGE_ATTACKS.names()) == set(PIXEL_ATTACKS + MODEL_ATTACKS)
    with pytest.raises(KeyError, match="known image attacks: blur"):
        IMAGE_ATTACKS.get("jpg")
    with pytest.raises(KeyError, match="already registered"):
        IMAGE_ATTACKS.add("jpeg", object)


@pytest.mark.parametrize("name", PIXEL_ATTACKS)
def test_shape_range_and_determinism(name):
    images = torch.rand(3, 3, 40, 48, generator=torch.Generator().manual_seed(1))
    attack = build_attack(name, strength=0.6)
    a = attack(images, generators(3))
    b = attack(images, generators(3))
    assert a.shape == images.shape and a.dtype == images.dtype
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, b)
    assert float((a - images).abs().mean()) > 1e-3  # it changed the images
    # per-image generators make the result independent of the batching
    single = attack(images[1:2], generators(3)[1:2])
    torch.testing.assert_close(single, a[1:2], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["blur", "noise", "resize", "crop", "rotation", "brightness", "contrast"])
def test_strength_zero_is_identity(name):
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 0.5
    out = build_attack(name, strength=0.0)(images, generators(2))
    torch.testing.assert_close(out, images, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["jpeg", "blur", "noise", "resize", "crop"])
def test_stronger_attack_changes_more(name, photos):
    images = photos[:1, :, :64, :64]
    errors = [
        float((build_attack(name, strength=s)(images, generators(1)) - images).pow(2).mean())
        for s in (0.2, 0.5, 1.0)
    ]
    assert errors[0] < errors[1] < errors[2]


def test_strength_mappings_are_documented_values():
    assert build_attack("jpeg", strength=0.5).quality == 55
    assert build_attack("jpeg", strength=1.0).quality == 10
    assert build_attack("blur", strength=0.5).sigma == pytest.approx(2.0)
    assert build_attack("noise", strength=1.0).std == pytest.approx(0.1)
    assert build_attack("resize", strength=1.0).scale == pytest.approx(0.25)
    assert build_attack("crop", strength=1.0).area == pytest.approx(0.25)
    assert build_attack("rotation", strength=0.5).degrees == pytest.approx(22.5)
    assert build_attack("brightness", strength=0.5).factor == pytest.approx(1.5)
    assert build_attack("contrast", strength=1.0).factor == pytest.approx(2.0)


@pytest.mark.parametrize("strength", [-0.1, 1.5, math.nan, math.inf])
def test_strength_outside_unit_interval_is_refused(strength):
    with pytest.raises(ValidationError, match=r"strength must be in \[0, 1\]"):
        build_attack("jpeg", strength=strength)
    with pytest.raises(ValidationError, match=r"strength must be in \[0, 1\]"):
        build_attack("blur").with_strength(strength)


def test_unknown_config_field_is_refused():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        build_attack("jpeg", strenght=0.5)


def test_jpeg_records_codec_and_subsampling_matters(photos):
    images = photos[:1, :, :64, :64]
    a = build_attack("jpeg", strength=0.3, subsampling="4:2:0")
    b = build_attack("jpeg", strength=0.3, subsampling="4:4:4")
    assert a.describe()["parameters"] == {"quality": 73, "subsampling": "4:2:0", "codec": "pillow-libjpeg"}
    assert not torch.equal(a(images), b(images))


def test_config_round_trips_through_json():
    attack = build_attack(
        "combo", strength=0.3, attacks=["jpeg", "noise"], options={"jpeg": {"subsampling": "4:4:4"}}
    )
    text = json.dumps(attack.describe())
    again = build_attack("combo", **json.loads(text)["config"])
    assert again.config == attack.config
    assert again.chain[0].config.subsampling == "4:4:4"
    assert again.with_strength(0.9).chain[1].strength == 0.9


def test_combo_refuses_unknown_or_recursive_members():
    with pytest.raises(ValidationError, match="unknown image attack 'jpg'"):
        build_attack("combo", attacks=["jpg"])
    with pytest.raises(ValidationError, match="cannot contain itself"):
        build_attack("combo", attacks=["combo"])


def test_combo_equals_its_chain():
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    combo = build_attack("combo", strength=0.5, attacks=["blur", "brightness"])
    expected = build_attack("brightness", strength=0.5)(build_attack("blur", strength=0.5)(images))
    torch.testing.assert_close(combo(images), expected)


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.rand(1, 4, 8, 8), "drop the alpha channel"),
        (torch.rand(3, 8, 8), r"shape \(B, 3, H, W\)"),
        ((torch.rand(1, 3, 8, 8) * 255).to(torch.uint8), "float tensor"),
        (torch.rand(1, 3, 8, 8) * 2 - 1, r"\[-1, 1\]"),
        (torch.full((1, 3, 8, 8), math.nan), "NaN"),
    ],
)
def test_bad_image_batches_get_clear_errors(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        check_images(bad)
    with pytest.raises((ValueError, TypeError), match=match):
        build_attack("blur")(bad)


def test_wrong_number_of_generators():
    with pytest.raises(ValueError, match="one per image"):
        build_attack("noise")(torch.rand(2, 3, 8, 8), generators(3))
