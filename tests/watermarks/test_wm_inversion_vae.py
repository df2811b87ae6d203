"""The ``inversion_vae`` option of the latent watermark detectors: an encoder stored alone, composed with
the pipeline's decoder, chosen by name or folder; bad choices fail at once with one line."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from attacks.watermarks import build_watermark
from workbench.latents import ENCODER_PREFIXES, encode_images, load_inversion_vae, save_inversion_encoder
from workbench.loading.inversion import check_inversion_vae, inversion_vae_folder

STEPS = {"num_inference_steps": 2, "inversion_steps": 2}


def _other_encoder(vae, folder):
    """Save ``vae``'s encoder with every weight moved, so a composed VAE visibly encodes differently."""
    import copy

    moved = copy.deepcopy(vae)
    with torch.no_grad():
        for name, p in moved.named_parameters():
            if name.startswith(ENCODER_PREFIXES):
                p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    save_inversion_encoder(moved, folder)
    return moved


def test_encoder_is_stored_alone_and_composed_with_the_decoder(txt2img_pipe, tmp_path):
    vae = txt2img_pipe.vae
    moved = _other_encoder(vae, tmp_path)
    from safetensors.torch import load_file

    stored = load_file(str(tmp_path / "encoder.safetensors"))
    assert stored and all(k.startswith(ENCODER_PREFIXES) for k in stored)  # no decoder weights stored
    composed = load_inversion_vae(tmp_path, vae)
    for name, p in composed.state_dict().items():
        source = moved if name.startswith(ENCODER_PREFIXES) else vae
        assert torch.allclose(p, source.state_dict()[name], atol=2e-3), name
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(encode_images(txt2img_pipe, x, composed), encode_images(txt2img_pipe, x))
    assert composed is not vae and all(not p.requires_grad for p in composed.parameters())


def test_detector_uses_the_chosen_encoder(txt2img_pipe, tmp_path):
    _other_encoder(txt2img_pipe.vae, tmp_path)
    own = build_watermark("treering", pipe=txt2img_pipe, **STEPS)
    chosen = build_watermark("treering", pipe=txt2img_pipe, inversion_vae=str(tmp_path), **STEPS)
    assert own.inversion_vae is None  # "auto" on a pipeline that is not the preset's SD: its own VAE
    assert chosen.inversion_vae is not None
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(own.invert(images), chosen.invert(images))
    shading = build_watermark(
        "gaussian_shading", pipe=txt2img_pipe, hw_factor=4, inversion_vae=str(tmp_path), **STEPS
    )
    assert shading.invert(images).shape == (2, 4, 16, 16)


def test_bad_inversion_vae_is_refused_in_one_line(txt2img_pipe, tmp_path):
    with pytest.raises(ValidationError, match="inversion_vae .* is neither 'auto', 'pipeline'"):
        build_watermark("treering", pipe=txt2img_pipe, inversion_vae=str(tmp_path / "nowhere"))
    with pytest.raises(ValueError) as info:
        check_inversion_vae(str(tmp_path))  # a folder without encoder.safetensors
    assert "\n" not in str(info.value) and "encoder.safetensors" in str(info.value)
    assert inversion_vae_folder("pipeline", "toy", txt2img_pipe) is None
    (tmp_path / "encoder.safetensors").write_bytes(b"")  # present, but another model's encoder
    from safetensors.torch import save_file

    save_file({"encoder.conv_in.weight": torch.zeros(1)}, str(tmp_path / "encoder.safetensors"))
    with pytest.raises(ValueError, match="does not fit this VAE"):
        load_inversion_vae(tmp_path, txt2img_pipe.vae)


def test_auto_takes_the_presets_encoder_only_for_the_presets_own_sd(txt2img_pipe, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from workbench.loading import PRESETS, Preset, presets

    presets()  # plugins registered first, so the test preset is not overwritten
    sd, enc = tmp_path / "sd", tmp_path / "enc"
    sd.mkdir()
    save_inversion_encoder(txt2img_pipe.vae, enc)
    monkeypatch.setitem(
        PRESETS, "with-inv", Preset("with-inv", {"sd": str(sd), "inversion-vae": str(enc)}, "t")
    )
    assert inversion_vae_folder("auto", "with-inv", SimpleNamespace(name_or_path=str(sd))) == enc
    assert inversion_vae_folder("auto", "with-inv", SimpleNamespace(name_or_path="org/other")) is None
    assert inversion_vae_folder("with-inv", "sd15", SimpleNamespace(name_or_path="x")) == enc
    assert check_inversion_vae("with-inv") == "with-inv"
    (enc / "encoder.safetensors").unlink()  # the preset's weights are missing: say so, no fallback
    with pytest.raises(FileNotFoundError, match="no weights yet"):
        inversion_vae_folder("auto", "with-inv", SimpleNamespace(name_or_path=str(sd)))
