"""The watermark demo's handlers (no browser) on random-weight models."""

from __future__ import annotations

import numpy as np
import pytest

from apps import watermark_demo as demo


def _photo() -> np.ndarray:
    from skimage import data

    return data.astronaut()[::2, ::2].copy()  # (256, 256, 3) uint8


def test_upload_embed_attack_decode():
    r = demo.run_pipeline(
        _photo(), "", "dwtDctSvd", "10110011100011110000111110000011", "jpeg", 0.9, model="dummy"
    )
    assert r.original.shape == r.watermarked.shape == r.attacked.shape == (256, 256, 3)
    assert r.bits_before == r.payload == "10110011100011110000111110000011"
    assert r.metrics["bit accuracy before attack"] == 1.0
    assert r.metrics["bit accuracy after attack"] < 0.9
    assert r.metrics["PSNR watermarked vs original (dB)"] > 30
    assert r.metrics["attack parameters"]["quality"] == 19


def test_generated_paraphrase_and_generation_time_watermark():
    r = demo.run_pipeline(
        None, "a red circle", "gaussian_shading", "", "paraphrase", 0.5, 5.0, "", model="dummy", steps=2
    )
    assert r.attacked.shape == (256, 256, 3) and len(r.bits_before) == 64
    assert r.caption == "a red circle"
    image = demo.generate_image("a red circle", model="dummy")
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image": None, "prompt": ""}, "upload an image or type a prompt"),
        ({"image": np.zeros((64, 64, 4), np.uint8)}, "alpha channel"),
        ({"image": np.zeros((8, 8, 3), np.uint8)}, "too small"),
        ({"image": np.zeros((64, 64, 3), np.uint16)}, "16-bit"),
        ({"image": np.zeros((64, 64, 3), np.uint8), "strength": 1.5}, r"strength must lie in \[0, 1\]"),
        ({"image": np.zeros((64, 64, 3), np.uint8), "payload": "0101"}, "must have 32 bits"),
    ],
)
def test_bad_inputs(kwargs, match):
    args = {"image": None, "prompt": "", "watermark": "dwtDct", "attack": "blur", "model": "dummy", **kwargs}
    with pytest.raises(ValueError, match=match):
        demo.run_pipeline(**args)


def test_blocks_build():
    assert demo.build() is not None
