"""Install / restore of attention processors."""

from __future__ import annotations

import pytest
from diffusers.models.attention_processor import AttnProcessor

from workbench.attention import (
    ReferenceAttentionState,
    ReferenceAttnProcessor,
    attn_processors_installed,
    reference_processors,
)


def test_restores_the_same_processor_objects(sd15_unet):
    before = dict(sd15_unet.attn_processors)
    state = ReferenceAttentionState(num_references=1, reference_hw=(16, 16))
    procs = reference_processors(sd15_unet, "freecustom", state)
    with attn_processors_installed(sd15_unet, procs):
        inside = sd15_unet.attn_processors
        assert {k for k, p in inside.items() if isinstance(p, ReferenceAttnProcessor)} == {
            n + ".processor" for n in procs
        }
        assert all(inside[k] is p for k, p in before.items() if k[: -len(".processor")] not in procs)
    after = sd15_unet.attn_processors
    assert list(after) == list(before)
    assert all(after[k] is before[k] for k in before)
    assert [type(p) for p in after.values()] == [type(p) for p in before.values()]


def test_restores_after_an_exception(tiny_unet):
    before = dict(tiny_unet.attn_processors)
    name = "up_blocks.1.attentions.0.transformer_blocks.0.attn1"
    with (
        pytest.raises(RuntimeError, match="boom"),
        attn_processors_installed(tiny_unet, {name: AttnProcessor()}),
    ):
        assert isinstance(tiny_unet.attn_processors[name + ".processor"], AttnProcessor)
        raise RuntimeError("boom")
    assert all(tiny_unet.attn_processors[k] is p for k, p in before.items())


def test_unknown_layer_and_empty_mapping(tiny_unet):
    before = dict(tiny_unet.attn_processors)
    with (
        pytest.raises(KeyError, match="not an attention layer"),
        attn_processors_installed(tiny_unet, {"nope.attn1": AttnProcessor()}),
    ):
        pass
    with attn_processors_installed(tiny_unet, {}):
        pass
    assert all(tiny_unet.attn_processors[k] is p for k, p in before.items())
