"""GLIGEN-style grounding: the gated UNet, the trainer (steps, resume, export) on tiny components."""

from __future__ import annotations

import copy

import pytest
import torch

from generators.layout import BoxLayout
from generators.layout.gligen import (
    gated_unet_from,
    generate_grounded,
    grounding_parameters,
    load_gligen_pipeline,
)
from generators.layout.train_gligen import GligenTrainer
from workbench.dummy import dummy_sd_pipeline
from workbench.runtime import Runtime


def _trainer(**kw):
    return GligenTrainer(seed=0, batch_size=3, sd_pipe=dummy_sd_pipeline(seed=0), eval_images=0, **kw)


@pytest.mark.parametrize(
    ("token_positions", "box_attention"),
    [(False, False), (True, False), (False, True), (True, True)],
    ids=["paper-fuser", "positional-fuser", "box-masked-fuser", "box-masked-positional-fuser"],
)
def test_gated_unet_starts_as_the_source_unet(token_positions, box_attention):
    pipe = dummy_sd_pipeline(seed=1)
    gated = gated_unet_from(pipe.unet, token_positions=token_positions, box_attention=box_attention)
    x = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    text = torch.randn(2, 77, 32, generator=torch.Generator().manual_seed(1))
    corners = torch.rand(2, 30, 2, 2).sort(dim=2).values  # (B, M, lo/hi, x/y)
    masks = torch.ones(2, 30)
    masks[:, 3:] = 0  # padded slots, as the pipeline pads to 30
    grounding = {
        "boxes": corners.reshape(2, 30, 4),  # (x0, y0, x1, y1)
        "positive_embeddings": torch.randn(2, 30, 32),
        "masks": masks,
    }
    with torch.no_grad():
        ref = pipe.unet(x, 10, encoder_hidden_states=text).sample
        out = gated(x, 10, encoder_hidden_states=text, cross_attention_kwargs={"gligen": grounding}).sample
    assert torch.equal(out, ref)  # the gates start closed: exactly the source UNet
    names = {n for n, p in gated.named_parameters() if any(p is q for q in grounding_parameters(gated))}
    assert names and all(n.startswith("position_net.") or ".fuser." in n for n in names)


def test_trainer_trains_only_grounding_and_resumes_exactly(tmp_path):
    trainer = _trainer()
    frozen = {n: p.detach().clone() for n, p in trainer.unet.named_parameters() if not p.requires_grad}
    grounding = {n: p.detach().clone() for n, p in trainer.unet.named_parameters() if p.requires_grad}
    loss0 = trainer.step(0)["loss"]
    assert loss0 > 0
    changed = [
        n for n, p in trainer.unet.named_parameters() if p.requires_grad and not torch.equal(p, grounding[n])
    ]
    assert changed
    assert all(torch.equal(p, frozen[n]) for n, p in trainer.unet.named_parameters() if not p.requires_grad)
    state = copy.deepcopy(trainer.state_dict())  # as a checkpoint file holds it
    next_loss = trainer.step(1)["loss"]
    resumed = _trainer()
    resumed.load_state_dict(state)
    assert resumed.step(1)["loss"] == next_loss
    assert "val_loss" in trainer.evaluate()


def test_training_loop_export_and_grounded_generation(tmp_path):
    from toyworld.train.loop import run_training

    trainer = _trainer(token_positions=False)  # a full pipeline folder holds the paper's fusers only
    result = run_training(trainer, tmp_path / "work", max_steps=2, eval_every=10**6, log_every=1)
    assert result["step"] == 2 and (tmp_path / "work" / "checkpoint.pt").is_file()
    again = run_training(_trainer(token_positions=False), tmp_path / "work", max_steps=3, eval_every=10**6)
    assert again["step"] == 3  # resumed at step 2
    trainer.export(tmp_path / "gligen", {"steps": 2, "minutes": 0.0})
    pipe = load_gligen_pipeline(tmp_path / "gligen", Runtime(seed=0, device="cpu"))
    assert pipe.unet.config.attention_type == "gated"
    layout = BoxLayout(
        phrases=["a red circle", "a blue square"], boxes=[(0.0, 0.2, 0.5, 0.8), (0.5, 0.2, 1.0, 0.8)]
    )
    prompts = ["a red circle on the left and a blue square on the right", "a blue square and a red circle"]
    images = generate_grounded(
        pipe, prompts, layout, [torch.Generator().manual_seed(i) for i in range(2)], num_inference_steps=2
    )
    assert images.shape == (2, 3, 32, 32) and 0 <= float(images.min()) and float(images.max()) <= 1


def test_grounding_adapter_export_loads_as_the_full_pipeline(tmp_path):
    import json

    import pytest

    from generators.layout.gligen.adapter import WEIGHTS_FILE, read_adapter

    base_dir = tmp_path / "base"
    dummy_sd_pipeline(seed=0).save_pretrained(base_dir, safe_serialization=True)
    trainer = _trainer(base_name=str(base_dir), token_positions=False)
    trainer.step(0)
    trainer.export(tmp_path / "adapter", {"steps": 1, "minutes": 0.0})
    full = _trainer(token_positions=False)
    full.load_state_dict(copy.deepcopy(trainer.state_dict()))
    full.export(tmp_path / "full", {"steps": 1, "minutes": 0.0})

    assert read_adapter(tmp_path / "adapter")["base"] == str(base_dir)
    assert not (tmp_path / "adapter" / "unet").exists()  # the grounding layers only
    adapter_bytes = (tmp_path / "adapter" / WEIGHTS_FILE).stat().st_size
    assert adapter_bytes < sum(f.stat().st_size for f in (tmp_path / "full" / "unet").glob("*.safetensors"))

    rt = Runtime(seed=0, device="cpu")
    a, b = load_gligen_pipeline(tmp_path / "adapter", rt), load_gligen_pipeline(tmp_path / "full", rt)
    assert a.unet.config.attention_type == "gated"
    sa, sb = a.unet.state_dict(), b.unet.state_dict()
    assert sa.keys() == sb.keys() and all(torch.allclose(sa[k], sb[k], atol=1e-3) for k in sa)
    changed = [
        k
        for k in sa
        if ".fuser." in k and not torch.equal(sa[k], _trainer(token_positions=False).unet.state_dict()[k])
    ]
    assert changed  # the trained grounding layers came back, not fresh ones

    retrained = _trainer(token_positions=False)  # warm start reads the adapter
    retrained.warm_start(tmp_path / "adapter")
    assert all(torch.allclose(retrained.unet.state_dict()[k], sa[k], atol=1e-3) for k in sa)

    meta = json.loads((tmp_path / "adapter" / "adapter.json").read_text())
    (tmp_path / "adapter" / "adapter.json").write_text(json.dumps({**meta, "format": "other"}))
    with pytest.raises(ValueError, match="not a GLIGEN grounding adapter"):
        load_gligen_pipeline(tmp_path / "adapter", rt)


def test_grounding_adapter_refuses_another_unet(tmp_path):
    import pytest
    from diffusers import UNet2DConditionModel

    from generators.layout.gligen.adapter import load_grounding_into, save_grounding_adapter

    unet = dummy_sd_pipeline(seed=0).unet
    save_grounding_adapter(gated_unet_from(unet), tmp_path / "a", base="somewhere")
    config = {k: v for k, v in unet.config.items() if not k.startswith("_")}
    other = UNet2DConditionModel.from_config({**config, "cross_attention_dim": 48})
    with pytest.raises(ValueError, match="does not fit|other shapes"):
        load_grounding_into(gated_unet_from(other), tmp_path / "a")
