"""Model loading: presets, local folders, offline failures, pickle refusal, tokenizer check."""

from __future__ import annotations

import json
import os
import time

import pytest
import torch

from workbench.dummy import save_dummy_captioner, save_dummy_clip, save_dummy_sd
from workbench.loading import (
    BrokenTokenizerError,
    ModelNotAvailableError,
    UnsafeCheckpointError,
    hub_offline,
    load_captioner,
    load_clip,
    load_sd_pipeline,
    presets,
    resolve_model,
)

MISSING_ID = "workbench-tests/no-such-model-7f3a"


def test_offline_uncached_hub_id_fails_fast_naming_it(runtime, monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    start = time.perf_counter()
    with pytest.raises(ModelNotAvailableError) as err:
        load_sd_pipeline(MISSING_ID, runtime)
    with pytest.raises(ModelNotAvailableError) as preset_err:
        load_clip("clip-b32", runtime)
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"took {elapsed:.1f} s"
    message = str(err.value)
    assert MISSING_ID in message and "huggingface-cli download" in message and "HF_HUB_OFFLINE" in message
    assert "clip-b32" in str(preset_err.value) and "openai/clip-vit-base-patch32" in str(preset_err.value)


def test_unreachable_hub_switches_to_offline(monkeypatch):
    import workbench.loading.hub as hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setattr(hub, "_OFFLINE_CHECKED", {})
    start = time.perf_counter()
    assert hub_offline(timeout=2.0)
    assert time.perf_counter() - start < 3
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_presets_and_names_resolve():
    assert set(presets()) >= {
        "toy",
        "toy-ref",
        "sd15",
        "sd21",
        "sd-turbo",
        "clip-b32",
        "clip-l14",
        "blip",
        "kosmos2",
        "dinov2",
    }
    assert resolve_model("sd15").source == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    toy = resolve_model("toy", kind="sd")
    assert toy.available or "not trained yet" in toy.reason
    with pytest.raises(ValueError, match="several models"):
        resolve_model("toy")
    bad = resolve_model("./no/such/folder")
    assert not bad.available and "no such file" in bad.reason
    odd = resolve_model("not a model!")
    assert not odd.available and "not a preset" in odd.reason


def test_a_missing_toy_model_says_how_to_train_it(monkeypatch, tmp_path):
    from workbench.loading import resolve as resolve_mod

    ref = resolve_model("toy-ref", kind="sd")
    assert ref.name == "toy-ref" and ref.origin == "local" and ref.source.endswith("sd-ref")
    shipped = resolve_mod.presets()["toy-ref"]  # the same preset, its folder without weights
    gone = resolve_mod.Preset(
        "toy-ref", {"sd": str(tmp_path / "sd-ref")}, "not here", missing=shipped.missing
    )
    monkeypatch.setitem(resolve_mod.PRESETS, "toy-ref", gone)
    missing = resolve_model("toy-ref", kind="sd")
    assert not missing.available and "workbench toy train unet-ref" in missing.reason


def test_local_sd_folder_loads_on_runtime_and_matches_dummy(tmp_path, runtime):
    folder = save_dummy_sd(tmp_path / "sd")
    pipe = load_sd_pipeline(str(folder), runtime)
    assert pipe.unet.device == runtime.device and pipe.unet.dtype == runtime.dtype and not pipe.unet.training
    assert pipe.safety_checker is None
    img2img = load_sd_pipeline(str(folder), runtime, kind="img2img")
    assert type(img2img).__name__ == "StableDiffusionImg2ImgPipeline"
    with pytest.raises(ValueError, match="allowed: txt2img"):
        load_sd_pipeline(str(folder), runtime, kind="video")


def test_pickle_only_folder_is_refused_unless_opted_in(tmp_path, runtime):
    folder = save_dummy_clip(tmp_path / "clip")
    state = {k: v.clone() for k, v in load_clip(str(folder), runtime)[0].state_dict().items()}
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(UnsafeCheckpointError, match=r"pickle.*allow_pickle=True"):
        load_clip(str(folder), runtime)
    model, _ = load_clip(str(folder), runtime, allow_pickle=True)
    assert torch.equal(model.state_dict()["logit_scale"], state["logit_scale"])
    pipe_folder = save_dummy_sd(tmp_path / "sd")
    unet_weights = pipe_folder / "unet" / "diffusion_pytorch_model.safetensors"
    unet_weights.rename(unet_weights.with_suffix(".bin"))
    with pytest.raises(UnsafeCheckpointError, match="unet"):
        load_sd_pipeline(str(pipe_folder), runtime)


def test_tiny_tokenizer_is_an_error(tmp_path, runtime):
    from transformers import CLIPTokenizer

    folder = save_dummy_clip(tmp_path / "clip")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    CLIPTokenizer().save_pretrained(folder)  # what an incomplete offline download gives: 3 tokens
    with pytest.raises(BrokenTokenizerError, match=r"only \d+ tokens"):
        load_clip(str(folder), runtime)


def test_captioner_folder_loads(tmp_path, runtime):
    folder = save_dummy_captioner(tmp_path / "cap")
    model, processor = load_captioner(str(folder), runtime)
    assert type(model).__name__ == "BlipForConditionalGeneration" and not model.training
    assert json.loads((folder / "config.json").read_text())["architectures"] == [
        "BlipForConditionalGeneration"
    ]
    assert len(processor.tokenizer) > 100
