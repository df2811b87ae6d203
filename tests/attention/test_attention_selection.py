"""Layer selection by block names on an SD-1.5-shaped UNet."""

from __future__ import annotations

import pytest
import torch

from workbench.attention import LAYER_PRESETS, layer_names, match_pattern, resolve_layers


def _execution_order(unet) -> list[str]:
    """Self-attention module names in the order a forward pass calls them."""
    order: list[str] = []
    hooks = [
        unet.get_submodule(name).register_forward_hook(lambda m, i, o, name=name: order.append(name))
        for name in layer_names(unet)
        if name.endswith("attn1")
    ]
    try:
        with torch.no_grad():
            unet(torch.zeros(1, 4, 16, 16), 10, encoder_hidden_states=torch.zeros(1, 77, 32))
    finally:
        for h in hooks:
            h.remove()
    return order


def test_freecustom_preset_is_papers_layers_10_to_15(sd15_unet):
    chosen = resolve_layers(sd15_unet, "freecustom")
    order = _execution_order(sd15_unet)
    assert len(order) == 16  # SD-1.5: 16 transformer blocks
    assert chosen == [n for n in layer_names(sd15_unet) if n in order[10:16]]
    assert {n.split(".")[1] for n in chosen} == {"2", "3"}
    assert all(n.startswith("up_blocks.") and n.endswith(".attn1") for n in chosen)


def test_patterns_by_block_name(sd15_unet):
    up3 = resolve_layers(sd15_unet, "up_blocks.3.attentions.*.transformer_blocks.*.attn1")
    assert up3 == [f"up_blocks.3.attentions.{j}.transformer_blocks.0.attn1" for j in range(3)]
    assert resolve_layers(sd15_unet, "up_blocks.3.attentions.*.transformer_blocks.*.attn1.processor") == up3
    assert len(resolve_layers(sd15_unet, "**.attn1")) == 16
    assert resolve_layers(sd15_unet, ["up_blocks.3.**.attn1", "up_blocks.3.**.attn1"]) == up3  # no duplicates
    assert resolve_layers(sd15_unet, []) == []
    # '*' is one component: it does not reach across dots
    assert not match_pattern("up_blocks.*.attn1", "up_blocks.3.attentions.0.transformer_blocks.0.attn1")
    assert match_pattern("up_blocks.**.attn1", "up_blocks.3.attentions.0.transformer_blocks.0.attn1")


def test_presets_cover_the_self_attention(sd15_unet):
    assert set(LAYER_PRESETS) >= {"freecustom", "decoder", "all"}
    assert len(resolve_layers(sd15_unet, "all")) == 16
    assert len(resolve_layers(sd15_unet, "decoder")) == 9
    assert set(resolve_layers(sd15_unet, "freecustom")) < set(resolve_layers(sd15_unet, "decoder"))


def test_freecustom_preset_on_a_two_level_unet(tiny_unet):
    assert resolve_layers(tiny_unet, "freecustom") == [
        "up_blocks.1.attentions.0.transformer_blocks.0.attn1",
        "up_blocks.1.attentions.1.transformer_blocks.0.attn1",
    ]


def test_selection_errors(sd15_unet):
    with pytest.raises(ValueError, match="matches no attention layer.*down_blocks"):
        resolve_layers(sd15_unet, "up_blocks.9.**.attn1")
    with pytest.raises(ValueError, match="cross-attention"):
        resolve_layers(sd15_unet, "up_blocks.3.**.attn2")
    with pytest.raises(ValueError, match="non-empty string"):
        resolve_layers(sd15_unet, [""])
    assert len(resolve_layers(sd15_unet, "up_blocks.3.**.attn2", self_attention_only=False)) == 3
