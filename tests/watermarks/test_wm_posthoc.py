"""invisible-watermark's dwtDct, dwtDctSvd and rivaGan behind the common watermark interface."""

from __future__ import annotations

import json

import pytest
import torch
from pydantic import ValidationError

from attacks.image import build_attack
from attacks.watermarks import WATERMARKS, Watermark, build_watermark, parse_payload

POST_HOC = ["dwtDct", "dwtDctSvd", "rivaGan"]
PAYLOAD = "10110011100011110000111110000011"


def test_registry():
    assert WATERMARKS.names() == ["dwtDct", "dwtDctSvd", "gaussian_shading", "rivaGan", "treering"]
    assert {WATERMARKS.get(n).kind for n in POST_HOC} == {"post_hoc"}


@pytest.mark.parametrize("name", POST_HOC)
def test_embed_decode_and_score(name, photos):
    wm = build_watermark(name, payload=PAYLOAD)
    images = photos[:1]
    marked = wm.embed(images)
    assert marked.shape == images.shape and float(marked.min()) >= 0 and float(marked.max()) <= 1
    psnr = 10 * torch.log10(1 / (marked - images).pow(2).mean())
    assert psnr > 30  # invisible
    bits, score = wm.analyse(marked)
    assert bits.shape == (1, 32)
    assert float(score[0]) >= 0.9
    assert torch.equal(wm.decode(marked), bits)
    assert float(wm.score(images)[0]) < 0.8  # the clean photo does not carry the payload
    # an explicit per-image payload is embedded instead of the key's
    other = "01" * 16
    assert float(wm.score(wm.embed(images, other), other)[0]) >= 0.9


def test_dwtdctsvd_survives_mild_jpeg_but_not_strong(photos):
    wm = build_watermark("dwtDctSvd", payload=PAYLOAD)
    marked = wm.embed(photos)
    mild = wm.score(build_attack("jpeg", strength=0.05, subsampling="4:4:4")(marked))
    strong = wm.score(build_attack("jpeg", strength=0.9)(marked))
    assert float(mild.mean()) > float(strong.mean())
    assert float(mild.mean()) >= 0.9


def test_payload_validation():
    wm = build_watermark("dwtDct")
    assert wm.payload.shape == (32,)
    with pytest.raises(ValueError, match="must have 32 bits"):
        wm.embed(torch.rand(1, 3, 256, 256), "0101")
    with pytest.raises(ValueError, match="only '0' and '1'"):
        wm.set_payload("0123" * 8)
    with pytest.raises(ValueError, match="must have 32 bits"):
        _ = build_watermark("dwtDct", payload="01").payload
    with pytest.raises(ValidationError, match="exactly 32 bits"):
        build_watermark("rivaGan", num_bits=48)
    assert parse_payload([1, 0, 1], 3, batch_size=2).shape == (2, 3)
    with pytest.raises(ValueError, match="3 payloads for 2 images"):
        parse_payload(torch.zeros(3, 4), 4, batch_size=2)


def test_small_images_error_or_resize():
    small = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="at least 256 x 256 pixels.*small_images='resize'"):
        build_watermark("dwtDct").embed(small)
    wm = build_watermark("dwtDctSvd", small_images="resize", payload=PAYLOAD)
    marked = wm.embed(small)
    assert marked.shape == small.shape
    assert wm.decode(marked).shape == (1, 32)


def test_key_file_round_trip(tmp_path):
    wm = build_watermark("dwtDctSvd", seed=7)
    path = wm.save_key(tmp_path / "key.json")
    record = json.loads(path.read_text())
    assert (
        record["method"] == "dwtDctSvd"
        and record["num_bits"] == 32
        and len(record["config"]["payload"]) == 32
    )
    again = Watermark.load_key(path)
    assert type(again).__name__ == "DwtDctSvd" and torch.equal(again.payload, wm.payload)
    with pytest.raises(ValueError, match="holds a 'dwtDctSvd' key"):
        WATERMARKS.get("dwtDct").load_key(path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a watermark key file"):
        Watermark.load_key(tmp_path / "bad.json")
    record["fingerprint"] = "0" * 16
    (tmp_path / "tampered.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="different fingerprint"):
        Watermark.load_key(tmp_path / "tampered.json")
