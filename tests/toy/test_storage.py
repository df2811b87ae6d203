"""Exports store diffusers models in float16 and load back as float32 with the stock classes."""

import torch
from diffusers import StableDiffusionPipeline, UNet2DConditionModel

from toyworld.train.registry import MODELS_DIR
from toyworld.train.storage import save_model_half, save_pipeline_half


def _weights_bytes(folder):
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


@torch.no_grad()
def test_half_storage_halves_the_unet_and_loads_back_as_float32(tmp_path):
    pipe = StableDiffusionPipeline.from_pretrained(MODELS_DIR / "sd", safety_checker=None)
    torch.manual_seed(0)
    for p in pipe.unet.parameters():  # weights of full float32 precision, as a trainer's are
        p.mul_(1 + 1e-3 * torch.randn_like(p))
    full = tmp_path / "full"
    pipe.unet.save_pretrained(full, safe_serialization=True)
    save_pipeline_half(pipe, tmp_path / "half")
    assert pipe.unet.dtype == torch.float32, "saving must not convert the caller's model"
    ratio = _weights_bytes(tmp_path / "half" / "unet") / _weights_bytes(full)
    assert 0.49 < ratio < 0.52
    loaded = StableDiffusionPipeline.from_pretrained(tmp_path / "half", safety_checker=None)
    assert loaded.unet.dtype == loaded.vae.dtype == loaded.text_encoder.dtype == torch.float32
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 16, 16, generator=g)
    states = pipe.encode_prompt(["a red circle", ""], "cpu", 1, False)[0]
    t = torch.tensor([500, 20])
    ref = pipe.unet(x, t, encoder_hidden_states=states).sample
    out = loaded.unet(x, t, encoder_hidden_states=states).sample
    assert (out - ref).abs().max() < 2e-2 * ref.abs().max()
    assert not torch.equal(out, ref)  # the weights were really rounded


def test_save_model_half_writes_a_folder_the_stock_class_loads(tmp_path):
    unet = UNet2DConditionModel(
        sample_size=8, block_out_channels=(32, 32), layers_per_block=1, cross_attention_dim=16,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), norm_num_groups=8, attention_head_dim=4,
    )  # fmt: skip
    folder = save_model_half(unet, tmp_path / "u")
    back = UNet2DConditionModel.from_pretrained(folder)
    assert back.dtype == torch.float32
    for (name, a), (_, b) in zip(unet.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a.half().float(), b), name
