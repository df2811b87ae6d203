"""Concept binding of reference attention: concept words in the prompt, cross-attention capture, and the
hard / soft bias on each generated token's reference logits."""

from __future__ import annotations

import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from workbench.attention import (
    ConceptBinding,
    CrossAttentionCapture,
    ReferenceAttentionState,
    ReferenceAttnProcessor,
    concept_token_indices,
)

C, HEADS, DIM_HEAD, SIDE, TEXT = 16, 2, 8, 4, 6  # 4x4 = 16 tokens, 6 prompt tokens
N = SIDE * SIDE


@pytest.fixture
def attn() -> Attention:
    torch.manual_seed(0)
    return Attention(query_dim=C, heads=HEADS, dim_head=DIM_HEAD).eval()


@pytest.fixture(scope="module")
def tokenizer():
    from workbench.dummy import dummy_sd_pipeline

    return dummy_sd_pipeline().tokenizer


def _owner_probs(owner: torch.Tensor, tokens: tuple[int, int] = (2, 4)) -> torch.Tensor:
    """`(1, N, TEXT)` attention probabilities putting each image token on concept ``owner[i]``'s word."""
    probs = torch.full((1, N, TEXT), 0.01)
    for i, o in enumerate(owner.tolist()):
        probs[0, i, tokens[o]] = 0.9
    return probs


def _bound_state(mode: str, owner: torch.Tensor, strength: float = 1.0) -> ReferenceAttentionState:
    binding = ConceptBinding(mode, [[2], [4]], (SIDE, SIDE), strength)
    binding.new_call()
    binding.add(_owner_probs(owner), (SIDE, SIDE))
    masks = torch.ones(2, SIDE, SIDE, dtype=torch.bool)
    return ReferenceAttentionState(2, (SIDE, SIDE), masks, 3.0, binding=binding)


def _attend(attn, state, x, refs) -> torch.Tensor:
    attn.set_processor(ReferenceAttnProcessor("layer", state))
    with torch.no_grad():
        with state.recording(("cond",)):
            attn(refs)
        with state.attending(("cond",)):
            return attn(x)


def test_concept_phrases_are_found_in_order_also_when_repeated(tokenizer):
    prompt = "a large circle on the left and a large star on the right"
    words = tokenizer.convert_ids_to_tokens(tokenizer(prompt).input_ids)
    found = concept_token_indices(tokenizer, prompt, ["a large circle", "a large star"])
    phrases = [" ".join(words[i].replace("</w>", "") for i in idx) for idx in found]
    assert phrases == ["a large circle on the left", "a large star on the right"]  # no "and", no end token
    twice = concept_token_indices(
        tokenizer, "a circle on the left and a circle on the right", ["a circle"] * 2
    )
    assert max(twice[0]) < min(twice[1])
    with pytest.raises(ValueError, match="the last word of 'a blue star' is not in"):
        concept_token_indices(tokenizer, "a red circle", ["a red circle", "a blue star"])
    loose = concept_token_indices(tokenizer, "a red circle", ["a red circle", "a blue star"], strict=False)
    assert len(loose[0]) == 3 and loose[1] == []


def test_a_concept_the_prompt_does_not_name_stays_open_to_every_token():
    binding = ConceptBinding("hard", [[2], [], [4]], (SIDE, SIDE))
    probs = torch.full((1, N, TEXT), 0.01)
    probs[0, : N // 2, 2], probs[0, N // 2 :, 4] = 0.9, 0.9
    binding.add(probs, (SIDE, SIDE))
    bias = binding.query_bias((SIDE, SIDE), 1)[0]  # (N, 3)
    assert (bias[:, 1] == 0).all()  # unnamed: open to all, leads none
    assert (bias[: N // 2, 0] == 0).all() and torch.isinf(bias[: N // 2, 2]).all()
    assert (bias[N // 2 :, 2] == 0).all() and torch.isinf(bias[N // 2 :, 0]).all()
    with pytest.raises(ValueError, match="binding needs prompt tokens for at least two concepts"):
        ConceptBinding("hard", [[2], []], (SIDE, SIDE))


def test_hard_binding_keeps_a_token_off_the_other_concepts_reference(attn):
    owner = (torch.arange(N) % SIDE >= SIDE // 2).long()  # left half concept 0, right half concept 1
    state = _bound_state("hard", owner)
    x, refs = torch.randn(1, N, C), torch.randn(2, N, C)
    out = _attend(attn, state, x, refs)
    other = refs.clone()
    other[1] += 5 * torch.randn(N, C)  # reference 1 changed: tokens of concept 0 must not see it
    moved = _attend(attn, state, x, other)
    a, b = owner == 0, owner == 1
    assert torch.allclose(out[0, a], moved[0, a], atol=1e-6)
    assert (out[0, b] - moved[0, b]).abs().amax() > 1e-2
    bias = state.binding.query_bias((SIDE, SIDE), 1)  # (1, N, 2)
    assert torch.isinf(bias[0, a, 1]).all() and (bias[0, a, 0] == 0).all()


def test_soft_binding_with_equal_maps_is_plain_mrsa_and_lowers_the_other_reference(attn):
    x, refs = torch.randn(1, N, C), torch.randn(2, N, C)
    plain = _attend(attn, ReferenceAttentionState(2, (SIDE, SIDE), torch.ones(2, SIDE, SIDE), 3.0), x, refs)
    binding = ConceptBinding("soft", [[2], [4, 5]], (SIDE, SIDE))
    binding.add(torch.full((1, N, TEXT), 0.1), (SIDE, SIDE))  # both words alike everywhere
    equal = ReferenceAttentionState(2, (SIDE, SIDE), torch.ones(2, SIDE, SIDE), 3.0, binding=binding)
    assert torch.allclose(_attend(attn, equal, x, refs), plain, atol=1e-6)
    owner = (torch.arange(N) % SIDE >= SIDE // 2).long()
    soft = _bound_state("soft", owner, strength=1.0).binding.query_bias((SIDE, SIDE), 1)[0]  # (N, 2)
    a = owner == 0  # log(0.01 / 0.9) on the other concept's reference, 0 on its own
    assert (soft[a, 0] == 0).all() and torch.allclose(soft[a, 1], torch.tensor(0.01 / 0.9).log())
    assert torch.allclose(_bound_state("soft", owner, 2.0).binding.query_bias((SIDE, SIDE), 1)[0], 2 * soft)


def test_maps_are_the_mean_over_calls_and_none_before_any():
    binding = ConceptBinding("hard", [[2], [4]], (SIDE, SIDE))
    assert binding.query_bias((SIDE, SIDE), 1) is None  # no map yet: plain MRSA
    left = (torch.arange(N) % SIDE >= SIDE // 2).long()
    binding.add(_owner_probs(left), (SIDE, SIDE))
    first = binding.maps()
    binding.new_call()  # a new step: no map of its own yet, the earlier steps' mean is used
    assert torch.equal(binding.maps(), first) and binding.query_bias((2, 2), 1).shape == (1, 4, 2)
    binding.add(_owner_probs(1 - left), (SIDE, SIDE))
    binding.add(_owner_probs(1 - left), (SIDE, SIDE))
    this_call = _owner_probs(1 - left)[..., [2, 4]].transpose(1, 2).reshape(1, 2, SIDE, SIDE)
    assert torch.allclose(binding.maps(), (first + this_call) / 2)  # each call weighs the same


def test_capture_returns_attnprocessor2_0_output_and_records_the_generated_cond_rows(attn):
    cross = Attention(query_dim=C, cross_attention_dim=12, heads=HEADS, dim_head=DIM_HEAD).eval()
    binding = ConceptBinding("hard", [[1], [3, 4]], (SIDE, SIDE))
    state = ReferenceAttentionState(2, (SIDE, SIDE), None, 3.0, binding=binding)
    cross.set_processor(CrossAttentionCapture("cross", state))
    x, text = torch.randn(2 + 2 * 3, N, C), torch.randn(2 + 2 * 3, TEXT, 12)  # 2 reference rows, 3 images x 2
    with torch.no_grad():
        expected = AttnProcessor2_0()(cross, x, text)
        assert torch.equal(cross(x, encoder_hidden_states=text), expected)  # mode off: nothing recorded
        assert binding.maps() is None
        with state.joint(("cond",), ("uncond", "cond")):
            assert torch.equal(cross(x, encoder_hidden_states=text), expected)
        q = cross.to_q(x[5:]).view(3, N, HEADS, DIM_HEAD).transpose(1, 2)
        k = cross.to_k(text[5:]).view(3, TEXT, HEADS, DIM_HEAD).transpose(1, 2)
        probs = (q @ k.transpose(-1, -2) * cross.scale).softmax(-1).mean(1)  # (3, N, TEXT)
    maps = binding.maps()  # (3, 2, SIDE, SIDE)
    expected_maps = torch.stack([probs[..., 1], probs[..., 3:5].mean(-1)], 1)  # (3, 2, N)
    assert torch.allclose(maps, expected_maps.reshape(3, 2, SIDE, SIDE), atol=1e-6)


def test_binding_settings_are_checked():
    with pytest.raises(ValueError, match="bind must be one of off, soft, hard, got 'both'"):
        ConceptBinding("both", [[1], [2]], (4, 4))
    with pytest.raises(ValueError, match="bind_strength must be a finite number > 0"):
        ConceptBinding("soft", [[1], [2]], (4, 4), strength=0.0)
    with pytest.raises(ValueError, match="the binding names 3 concepts for 2 references"):
        ReferenceAttentionState(2, (4, 4), binding=ConceptBinding("hard", [[1], [2], [3]], (4, 4)))
