"""The positional GLIGEN fuser: visual tokens carry their grid cell's box embedding."""

from __future__ import annotations

import pytest
import torch
from diffusers.models.attention import GatedSelfAttentionDense

from generators.layout.gligen import gated_unet_from, load_gligen_pipeline
from generators.layout.gligen.positional import (
    PositionalGatedSelfAttention,
    add_token_positions,
    has_token_positions,
    token_boxes,
)
from generators.layout.train_gligen import GligenTrainer
from workbench.dummy import dummy_sd_pipeline
from workbench.runtime import Runtime


def test_token_boxes_are_row_major_grid_cells():
    boxes = token_boxes(4)  # a 2x2 grid
    expected = torch.tensor(
        [[0.0, 0.0, 0.5, 0.5], [0.5, 0.0, 1.0, 0.5], [0.0, 0.5, 0.5, 1.0], [0.5, 0.5, 1.0, 1.0]]
    )
    assert torch.equal(boxes, expected)
    with pytest.raises(ValueError, match="not a square grid"):
        token_boxes(8)


def _opened(fuser):
    with torch.no_grad():
        fuser.alpha_attn.fill_(1.0)
        fuser.alpha_dense.fill_(1.0)
    return fuser


def test_only_the_positional_fuser_tells_tokens_apart_by_place():
    torch.manual_seed(0)
    plain = _opened(GatedSelfAttentionDense(32, 16, 2, 16)).eval()
    positional = _opened(PositionalGatedSelfAttention(32, 16, 2, 16)).eval()
    positional.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(1, 16, 32)  # a 4x4 grid of visual tokens
    objs = torch.randn(1, 3, 16)
    perm = torch.randperm(16)
    with torch.no_grad():
        # the paper's fuser is permutation-equivariant over the visual tokens: it cannot know where they are
        assert torch.allclose(plain(x[:, perm], objs), plain(x, objs)[:, perm], atol=1e-5)
        assert not torch.allclose(positional(x[:, perm], objs), positional(x, objs)[:, perm], atol=1e-3)


def test_positional_unet_trains_pos_proj():
    pipe = dummy_sd_pipeline(seed=1)
    gated = gated_unet_from(pipe.unet, token_positions=True)
    assert has_token_positions(gated) and not has_token_positions(gated_unet_from(pipe.unet))
    # that it starts as the source UNet: test_layout_gligen.py::test_gated_unet_starts_as_the_source_unet
    trainer = GligenTrainer(
        seed=0, batch_size=2, sd_pipe=dummy_sd_pipeline(seed=0), eval_images=0, token_positions=True
    )
    pos = {n: p.detach().clone() for n, p in trainer.unet.named_parameters() if ".pos_proj." in n}
    assert pos and all(p.requires_grad for n, p in trainer.unet.named_parameters() if n in pos)
    for step in range(3):  # the gates open at step 0; pos_proj moves once they are open
        trainer.step(step)
    assert any(not torch.equal(p, pos[n]) for n, p in trainer.unet.named_parameters() if n in pos)


def test_positional_adapter_round_trip_and_full_export_refused(tmp_path):
    base_dir = tmp_path / "base"
    dummy_sd_pipeline(seed=0).save_pretrained(base_dir, safe_serialization=True)
    trainer = GligenTrainer(
        seed=0,
        batch_size=2,
        sd_pipe=dummy_sd_pipeline(seed=0),
        base_name=str(base_dir),
        eval_images=0,
        token_positions=True,
    )
    trainer.step(0)
    trainer.export(tmp_path / "adapter", {"steps": 1, "minutes": 0.0})
    pipe = load_gligen_pipeline(tmp_path / "adapter", Runtime(seed=0, device="cpu"))
    assert has_token_positions(pipe.unet)
    mine = trainer.ema_unet().state_dict()
    loaded = pipe.unet.state_dict()
    assert any(".pos_proj." in k for k in loaded)
    assert all(torch.allclose(loaded[k], mine[k], atol=1e-3) for k in loaded if ".fuser." in k)
    full = GligenTrainer(
        seed=0, batch_size=2, sd_pipe=dummy_sd_pipeline(seed=0), eval_images=0, token_positions=True
    )
    with pytest.raises(ValueError, match="only as a grounding adapter"):
        full.export(tmp_path / "full", {"steps": 0, "minutes": 0.0})


def test_add_token_positions_refuses_a_plain_unet():
    with pytest.raises(ValueError, match="no GLIGEN fusers"):
        add_token_positions(dummy_sd_pipeline(seed=0).unet)


def test_evaluate_reports_the_toy_sd_alone_with_and_without_positions():
    fresh = GligenTrainer(seed=0, batch_size=2, sd_pipe=dummy_sd_pipeline(seed=0), eval_images=0)
    trained = GligenTrainer(seed=0, batch_size=2, sd_pipe=dummy_sd_pipeline(seed=0), eval_images=0)
    trained.step(0)
    for k, v in trained.ema.shadow.items():  # open the evaluated (EMA) gates
        if k.endswith(("alpha_attn", "alpha_dense")):
            v.fill_(1.0)
    a, b = fresh.evaluate(), trained.evaluate()
    # fusers off: the toy SD alone, whatever the grounding layers learned
    assert a["val_loss_toy_sd"] == pytest.approx(b["val_loss_toy_sd"], rel=1e-6)
    assert a["val_loss_toy_sd"] == pytest.approx(a["val_loss_no_boxes"], rel=1e-6)  # gates closed
    assert b["val_loss_no_boxes"] != pytest.approx(b["val_loss_toy_sd"], rel=1e-6)  # gates open
    assert a["val_loss_toy_sd_positions"] != pytest.approx(a["val_loss_toy_sd"], rel=1e-6)
    assert all(m.enabled for m in trained.unet.modules() if isinstance(m, GatedSelfAttentionDense))


def test_scheduled_sampling_switches_the_positional_fusers():
    from generators.layout.gligen import gligen_pipeline_from

    base = dummy_sd_pipeline(seed=0)
    pipe = gligen_pipeline_from(base, gated_unet_from(base.unet, token_positions=True))
    fusers = [m for m in pipe.unet.modules() if isinstance(m, PositionalGatedSelfAttention)]
    pipe.enable_fuser(False)  # what the pipeline calls after the grounded share of the steps
    assert fusers and not any(m.enabled for m in fusers)
    pipe.enable_fuser(True)
    assert all(m.enabled for m in fusers)


def test_checkpoints_of_the_other_fuser_are_refused_with_the_flag_to_use():
    paper = GligenTrainer(
        seed=0, batch_size=2, sd_pipe=dummy_sd_pipeline(seed=0), eval_images=0, token_positions=False
    )
    positional = GligenTrainer(
        seed=0, batch_size=2, sd_pipe=dummy_sd_pipeline(seed=0), eval_images=0, token_positions=True
    )
    with pytest.raises(ValueError, match="without --token-positions"):
        positional.load_state_dict(paper.state_dict())
    with pytest.raises(ValueError, match="with --token-positions"):
        paper.load_state_dict(positional.state_dict())
