"""Box-masked GLIGEN attention: a visual token attends only to the grounding tokens whose box covers it."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers.models.attention import GatedSelfAttentionDense

from generators.layout import BoxLayout
from generators.layout.gligen import gated_unet_from, generate_grounded, load_gligen_pipeline
from generators.layout.gligen.box_attention import (
    BoxMaskedGatedSelfAttention,
    BoxMaskedPositionalGatedSelfAttention,
    add_box_attention,
    grounding_attention_bias,
    has_box_attention,
)
from generators.layout.gligen.positional import has_token_positions, token_boxes
from generators.layout.train_gligen import GligenTrainer
from workbench.dummy import dummy_sd_pipeline
from workbench.runtime import Runtime

INF = float("-inf")


def _trainer(**kw):
    return GligenTrainer(seed=0, batch_size=2, sd_pipe=dummy_sd_pipeline(seed=0), eval_images=0, **kw)


def test_bias_lets_a_visual_token_see_only_the_boxes_over_its_cell():
    cells = token_boxes(4)  # a 2x2 grid: cells 0 1 / 2 3
    boxes = torch.tensor(
        [[[0.0, 0.0, 0.4, 0.4], [0.3, 0.6, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]]
    )  # (1, 3, 4): cell 0; cells 2 and 3; everything, but padded
    present = torch.tensor([[1.0, 1.0, 0.0]])
    bias = grounding_attention_bias(cells, boxes, present)  # (1, 7, 7)
    expected = torch.tensor([[0, INF, INF], [INF, INF, INF], [INF, 0, INF], [INF, 0, INF]])  # (N, M)
    assert bias.shape == (1, 7, 7)
    assert torch.equal(bias[0, :4, 4:], expected)
    assert torch.equal(bias[0, :4, :4], torch.zeros(4, 4))  # visual -> visual unchanged
    assert torch.equal(bias[0, 4:], torch.zeros(3, 7))  # the grounding tokens' rows (dropped) unchanged


def _opened(fuser):
    with torch.no_grad():
        fuser.alpha_attn.fill_(1.0)
        fuser.alpha_dense.fill_(1.0)
    return fuser.eval()


def _tokens(embeds: torch.Tensor) -> torch.Tensor:
    """Grounding tokens as the box-carrying position net gives them: `(1, 2, D + 5)`; box 0 covers the top
    left cell of a 4x4 grid, box 1 the bottom right 2x2 cells."""
    boxes = torch.tensor([[[0.0, 0.0, 0.25, 0.25], [0.5, 0.5, 1.0, 1.0]]])
    return torch.cat([embeds, boxes, torch.ones(1, 2, 1)], -1)


@pytest.mark.parametrize("kind", [BoxMaskedGatedSelfAttention, BoxMaskedPositionalGatedSelfAttention])
def test_a_token_outside_every_box_gets_nothing_from_the_grounding_tokens(kind):
    torch.manual_seed(0)
    fuser = _opened(kind(32, 16, 2, 16))
    plain = _opened(GatedSelfAttentionDense(32, 16, 2, 16))
    plain.load_state_dict(fuser.state_dict(), strict=False)
    x = torch.randn(1, 16, 32)  # a 4x4 grid of visual tokens
    a, b = torch.randn(1, 2, 16), torch.randn(1, 2, 16)  # two sets of phrase embeddings
    inside = torch.tensor([0, 10, 11, 14, 15])
    outside = torch.tensor([i for i in range(16) if i not in inside.tolist()])
    with torch.no_grad():
        out_a, out_b = fuser(x, _tokens(a)), fuser(x, _tokens(b))
        plain_a, plain_b = plain(x, a), plain(x, b)
    assert torch.allclose(out_a[:, outside], out_b[:, outside], atol=1e-6)  # zero attention to grounding
    assert (out_a[:, inside] - out_b[:, inside]).abs().amax(
        -1
    ).min() > 1e-3  # each covered token reads its box
    assert (plain_a[:, outside] - plain_b[:, outside]).abs().amax() > 1e-3  # the paper's fuser: all tokens


def test_add_box_attention_keeps_weights_and_positions():
    unet = gated_unet_from(dummy_sd_pipeline(seed=0).unet, token_positions=True)
    before = {k: v.clone() for k, v in unet.state_dict().items()}
    add_box_attention(unet)
    assert has_box_attention(unet) and has_token_positions(unet)
    after = unet.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    with pytest.raises(ValueError, match="no GLIGEN fusers"):
        add_box_attention(dummy_sd_pipeline(seed=0).unet)


def test_checkpoint_of_the_other_attention_is_refused_in_one_line():
    paper, boxed = _trainer(), _trainer(box_attention=True)
    with pytest.raises(ValueError, match="with --box-attention") as with_flag:
        paper.load_state_dict(boxed.state_dict())
    with pytest.raises(ValueError, match="without --box-attention") as without_flag:
        boxed.load_state_dict(paper.state_dict())
    assert "\n" not in str(with_flag.value) and "\n" not in str(without_flag.value)


def test_adapter_records_box_attention_and_the_pipeline_passes_the_boxes(tmp_path):
    base_dir = tmp_path / "base"
    dummy_sd_pipeline(seed=0).save_pretrained(base_dir, safe_serialization=True)
    trainer = _trainer(base_name=str(base_dir), box_attention=True, class_phrases=True)
    trainer.step(0)
    trainer.export(tmp_path / "adapter", {"steps": 1, "minutes": 0.0})
    meta = json.loads((tmp_path / "adapter" / "adapter.json").read_text())
    assert meta["box_attention"] is True and meta["class_phrases"] is True
    assert "class phrases" in (tmp_path / "adapter" / "README.md").read_text()
    pipe = load_gligen_pipeline(tmp_path / "adapter", Runtime(seed=0, device="cpu"))
    assert has_box_attention(pipe.unet) and not has_token_positions(pipe.unet)

    seen: list[torch.Tensor] = []
    fuser = next(m for m in pipe.unet.modules() if isinstance(m, BoxMaskedGatedSelfAttention))
    hook = fuser.register_forward_pre_hook(lambda mod, args: seen.append(args[1]))
    layout = BoxLayout(
        phrases=["a red circle", "a blue square"], boxes=[(0.0, 0.2, 0.5, 0.8), (0.5, 0.2, 1.0, 0.8)]
    )
    try:
        images = generate_grounded(pipe, "a red circle and a blue square", layout, num_inference_steps=2)
    finally:
        hook.remove()
    assert images.shape == (1, 3, 32, 32)
    objs = seen[0]  # (2, 30, D + 5): unconditional then conditional half
    assert torch.allclose(objs[1, :2, -5:-1], torch.tensor(layout.as_boxes().boxes, dtype=objs.dtype))
    assert objs[1, :2, -1].tolist() == [1.0, 1.0] and objs[:, 2:, -1].abs().sum() == 0
    assert objs[0, :, -1].abs().sum() == 0  # no grounding token for the unconditional half

    plain = _trainer()
    with pytest.raises(ValueError, match="with --box-attention"):
        plain.warm_start(tmp_path / "adapter")


def test_eval_gligen_beta_defaults_to_1_for_box_attention_and_to_the_papers_half_otherwise(tmp_path):
    from generators.layout.grounding_runs import default_beta

    for boxed, beta in ((True, 1.0), (False, 0.5)):
        torch.save({"trainer": _trainer(box_attention=boxed).state_dict()}, tmp_path / f"{boxed}.pt")
        assert default_beta(tmp_path / f"{boxed}.pt") == beta
        adapter = tmp_path / f"adapter-{boxed}"
        adapter.mkdir()
        (adapter / "grounding.safetensors").write_bytes(b"")
        meta = {"format": "gligen-grounding", "base": "toy", "box_attention": boxed}
        (adapter / "adapter.json").write_text(json.dumps(meta))
        assert default_beta(adapter) == beta
    assert default_beta(tmp_path / "a-full-pipeline-folder") == 0.5


def test_eval_gligen_cli_leaves_beta_to_the_model_unless_given(tmp_path, monkeypatch):
    from generators.layout import grounding_runs
    from workbench.cli import main

    seen = []
    monkeypatch.setattr(
        grounding_runs,
        "run_grounding_eval",
        lambda *a, **kw: seen.append(kw["scheduled_sampling_beta"]) or {},
    )
    args = ["layout", "eval-gligen", "--model", str(tmp_path), "--out", str(tmp_path / "out")]
    assert main(args) == 0 and main([*args, "--beta", "0.3"]) == 0
    assert seen == [None, 0.3]


@pytest.mark.parametrize("boxed, beta", [(True, 1.0), (False, 0.3)])
def test_generation_grounds_every_step_for_box_attention_and_the_papers_share_otherwise(boxed, beta):
    from types import SimpleNamespace

    from generators.layout.gligen.generator import GligenConfig

    seen = []

    def pipe(**kw):
        seen.append(kw["gligen_scheduled_sampling_beta"])
        return SimpleNamespace(images=torch.zeros(1, 3, 8, 8))

    pipe.unet = gated_unet_from(dummy_sd_pipeline(seed=0).unet, box_attention=boxed)
    layout = BoxLayout(phrases=["a red circle"], boxes=[(0.0, 0.0, 0.5, 0.5)])
    generate_grounded(pipe, "a red circle", layout, num_inference_steps=2)
    generate_grounded(pipe, "a red circle", layout, num_inference_steps=2, scheduled_sampling_beta=0.6)
    assert seen == [beta, 0.6]
    assert GligenConfig().scheduled_sampling_beta is None  # the generator leaves it to the model


def test_trainer_evaluation_samples_like_generation_unless_told():
    from generators.layout.gligen_recipe import RECIPE

    assert _trainer(box_attention=True).eval_beta == 1.0
    assert _trainer().eval_beta == RECIPE.eval_beta
    assert _trainer(box_attention=True, eval_beta=0.25).eval_beta == 0.25
