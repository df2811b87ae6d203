"""The shipped toy GLIGEN: a box-masked grounding adapter on the toy SD that loads, grounds, and whose card
records the claim it was shipped on."""

from __future__ import annotations

import json

import pytest
import torch

from generators.layout import BoxLayout
from generators.layout.gligen import GLIGEN_DIR, generate_grounded, load_gligen_pipeline
from generators.layout.gligen.adapter import read_adapter
from generators.layout.gligen.box_attention import has_box_attention
from generators.layout.gligen.positional import has_token_positions
from generators.layout.grounding_runs import default_beta
from workbench.runtime import Runtime

pytestmark = pytest.mark.skipif(not GLIGEN_DIR.is_dir(), reason="no shipped GLIGEN")


def test_shipped_gligen_is_the_box_masked_class_phrase_adapter_with_its_card():
    meta = read_adapter(GLIGEN_DIR)
    assert (
        meta["base"] == "toy" and meta["box_attention"] and meta["token_positions"] and meta["class_phrases"]
    )
    assert (GLIGEN_DIR / "README.md").is_file() and not list(GLIGEN_DIR.rglob("*.pt"))
    claim = json.loads((GLIGEN_DIR / "training.json").read_text())["two_object_class_words"]
    with_boxes = list(claim["with_boxes"]["per_seed"].values())
    se = claim["with_boxes"]["all_in_box_se"]
    assert len(with_boxes) == 6 and claim["with_boxes"]["all_in_box_mean"] >= 0.6
    assert min(with_boxes) >= 0.6 - 2 * se
    assert claim["with_boxes"]["all_in_box_mean"] - claim["without_boxes"]["all_in_box_mean"] >= 0.3
    assert default_beta(None) == 1.0  # eval-gligen grounds every step for it


def test_shipped_gligen_loads_on_the_toy_sd_and_generates():
    pipe = load_gligen_pipeline(None, Runtime(seed=0, device="cpu"))
    assert has_box_attention(pipe.unet) and has_token_positions(pipe.unet)
    assert pipe.unet.dtype == torch.float32  # float16 on disk
    layout = BoxLayout(phrases=["a large circle"], boxes=[(0.0, 0.0, 0.5, 0.5)])
    image = generate_grounded(
        pipe, "a large circle", layout, torch.Generator().manual_seed(0), num_inference_steps=2
    )
    assert image.shape[:2] == (1, 3) and torch.isfinite(image).all()
