"""The reference-attention processor (MRSA) against a direct implementation of FreeCustom's formula."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from workbench.attention import (
    ReferenceAttentionState,
    ReferenceAttnProcessor,
    masks_to_tokens,
    reference_logit_bias,
    token_grid,
)

C, HEADS, DIM_HEAD, SIDE = 16, 2, 8, 4  # 4x4 = 16 tokens
N = SIDE * SIDE


@pytest.fixture
def attn() -> Attention:
    torch.manual_seed(0)
    return Attention(query_dim=C, heads=HEADS, dim_head=DIM_HEAD).eval()


def _heads(x: torch.Tensor) -> torch.Tensor:
    return x.view(x.shape[0], -1, HEADS, DIM_HEAD).transpose(1, 2)  # (B, h, N, d)


def naive_mrsa(attn, x, x_refs, masks, weights, plain_weight=0.0):
    """FreeCustom's MRSA written out: logits over [own, ref_1, ..., ref_R], +w inside masks, -inf outside."""
    q, k, v = _heads(attn.to_q(x)), _heads(attn.to_k(x)), _heads(attn.to_v(x))
    kr, vr = _heads(attn.to_k(x_refs)), _heads(attn.to_v(x_refs))  # (R, h, N, d)
    k_cat = torch.cat([k] + [kr[r : r + 1].expand(x.shape[0], -1, -1, -1) for r in range(len(x_refs))], dim=2)
    v_cat = torch.cat([v] + [vr[r : r + 1].expand(x.shape[0], -1, -1, -1) for r in range(len(x_refs))], dim=2)
    sim = torch.einsum("bhid,bhjd->bhij", q, k_cat) * attn.scale  # (B, h, N, N + R*N)
    for r, (m, w) in enumerate(zip(masks, weights)):
        bias = torch.full((N,), float("-inf"))
        bias[m.flatten()] = w
        sim[..., N * (r + 1) : N * (r + 2)] += bias
    out = torch.einsum("bhij,bhjd->bhid", sim.softmax(-1), v_cat)
    if plain_weight:
        own = torch.einsum(
            "bhij,bhjd->bhid", (torch.einsum("bhid,bhjd->bhij", q, k) * attn.scale).softmax(-1), v
        )
        out = (1 - plain_weight) * out + plain_weight * own
    out = out.transpose(1, 2).reshape(x.shape[0], N, HEADS * DIM_HEAD)
    return attn.to_out[1](attn.to_out[0](out))


def _masks() -> torch.Tensor:
    masks = torch.zeros(2, SIDE, SIDE, dtype=torch.bool)
    masks[0, :2, :3] = True
    masks[1, 1:, 2:] = True
    return masks


def _state(**kw) -> ReferenceAttentionState:
    return ReferenceAttentionState(
        **{
            "num_references": 2,
            "reference_hw": (SIDE, SIDE),
            "masks": _masks(),
            "mask_weights": [3.0, 1.5],
            **kw,
        }
    )


def test_off_mode_is_attnprocessor2_0_exactly(attn):
    x = torch.randn(3, N, C)
    attn.set_processor(AttnProcessor2_0())
    expected = attn(x)
    attn.set_processor(ReferenceAttnProcessor("layer", _state()))
    assert torch.equal(attn(x), expected)
    text = torch.randn(3, 5, C)  # cross-attention calls always go to the plain processor
    assert torch.equal(attn(x, encoder_hidden_states=text), AttnProcessor2_0()(attn, x, text))


def test_record_then_attend_matches_the_formula(attn):
    x, refs = torch.randn(3, N, C), torch.randn(2, N, C)
    state = _state()
    attn.set_processor(ReferenceAttnProcessor("layer", state))
    with torch.no_grad():
        with state.recording(("cond",)):
            rec = attn(refs)
        with state.attending(("cond",)):
            out = attn(x)
        assert torch.allclose(
            rec, AttnProcessor2_0()(attn, refs), atol=1e-6
        )  # references: plain self-attention
        assert torch.allclose(out, naive_mrsa(attn, x, refs, _masks(), [3.0, 1.5]), atol=1e-5)


def test_style_fidelity_blends_the_unconditional_branch(attn):
    x, refs = torch.randn(4, N, C), torch.randn(2, N, C)
    state = _state(plain_weight={"uncond": 0.3})
    attn.set_processor(ReferenceAttnProcessor("layer", state))
    with torch.no_grad():
        with state.recording(("uncond", "cond")):
            attn(torch.cat([refs, refs]))
        with state.attending(("uncond", "cond")):
            out = attn(x)
        assert torch.allclose(
            out[:2], naive_mrsa(attn, x[:2], refs, _masks(), [3.0, 1.5], plain_weight=0.3), atol=1e-5
        )
        assert torch.allclose(out[2:], naive_mrsa(attn, x[2:], refs, _masks(), [3.0, 1.5]), atol=1e-5)
        # plain weight 1: that branch needs no references at all
        state_plain = _state(plain_weight={"uncond": 1.0})
        attn.set_processor(ReferenceAttnProcessor("layer", state_plain))
        assert not state_plain.needs_references("uncond") and state_plain.needs_references("cond")
        with state_plain.recording(("cond",)):
            attn(refs)
        with state_plain.attending(("uncond", "cond")):
            out = attn(x)
        assert torch.allclose(out[:2], AttnProcessor2_0()(attn, x[:2]), atol=1e-6)


def test_joint_mode_equals_two_passes(attn):
    x, refs = torch.randn(4, N, C), torch.randn(2, N, C)
    state = _state(plain_weight={"uncond": 1.0})
    attn.set_processor(ReferenceAttnProcessor("layer", state))
    with torch.no_grad():
        with state.joint(("cond",), ("uncond", "cond")):
            joint = attn(torch.cat([refs, x]))
        with state.recording(("cond",)):
            rec = attn(refs)
        with state.attending(("uncond", "cond")):
            out = attn(x)
    assert torch.allclose(joint, torch.cat([rec, out]), atol=1e-6)


def test_outside_the_mask_is_ignored_inside_is_not(attn):
    x, refs = torch.randn(2, N, C), torch.randn(2, N, C)
    state = _state()
    attn.set_processor(ReferenceAttnProcessor("layer", state))

    def run(r):
        with torch.no_grad():
            with state.recording(("cond",)):
                attn(r)
            with state.attending(("cond",)):
                return attn(x)

    base = run(refs)
    outside, inside = refs.clone(), refs.clone()
    outside[0, ~_masks()[0].flatten()] += 5.0
    inside[0, _masks()[0].flatten()] += 5.0
    assert torch.equal(run(outside), base)
    assert (run(inside) - base).abs().max() > 1e-3


def test_batch_invariance_and_allowed(attn):
    x, refs = torch.randn(3, N, C), torch.randn(2, N, C)
    state = _state()
    attn.set_processor(ReferenceAttnProcessor("layer", state))
    with torch.no_grad():
        with state.recording(("cond",)):
            attn(refs)
        with state.attending(("cond",)):
            batch = attn(x)
            single = torch.cat([attn(x[i : i + 1]) for i in range(3)])
        assert torch.allclose(batch, single, atol=1e-6)
        # image 0 sees reference 0 only, image 1 reference 1 only, image 2 both
        state.allowed = torch.tensor([[True, False], [False, True], [True, True]])
        with state.attending(("cond",)):
            masked = attn(x)
    assert torch.allclose(masked[0], naive_mrsa(attn, x[:1], refs[:1], _masks()[:1], [3.0])[0], atol=1e-5)
    assert torch.allclose(masked[1], naive_mrsa(attn, x[1:2], refs[1:], _masks()[1:], [1.5])[0], atol=1e-5)
    assert torch.allclose(masked[2], batch[2], atol=1e-6)


def test_processor_errors(attn):
    state = _state()
    attn.set_processor(ReferenceAttnProcessor("layer", state))
    x = torch.randn(3, N, C)
    with (
        state.attending(("cond",)),
        pytest.raises(KeyError, match="no cached reference keys for branch 'cond'"),
    ):
        attn(x)
    with (
        state.recording(("uncond", "cond")),
        pytest.raises(ValueError, match="do not split into the 2 branches"),
    ):
        attn(x)
    with (
        state.recording(("cond",)),
        pytest.raises(RuntimeError, match="do not nest"),
        state.attending(("cond",)),
    ):
        pass
    with (
        state.joint(("cond",), ("cond",)),
        pytest.raises(ValueError, match="joint mode needs 2 reference rows"),
    ):
        attn(x[:2])


def test_state_validation():
    with pytest.raises(ValueError, match="at least one reference"):
        ReferenceAttentionState(num_references=0, reference_hw=(4, 4))
    with pytest.raises(ValueError, match="mask_weights"):
        _state(mask_weights=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="at least one pixel"):
        _state(masks=torch.zeros(2, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"plain_weight\['uncond'\]"):
        _state(plain_weight={"uncond": 1.5})
    with pytest.raises(ValueError, match="allowed"):
        _state(allowed=torch.ones(2, 3, dtype=torch.bool))


def test_token_grids_and_mask_reduction():
    assert token_grid((64, 64), 64 * 64) == (64, 64)
    assert token_grid((64, 64), 16 * 16) == (16, 16)
    assert token_grid((15, 9), 8 * 5) == (8, 5)  # odd sides round up at each level
    with pytest.raises(ValueError, match="not a level"):
        token_grid((16, 16), 50)
    tiny = torch.zeros(1, 64, 64, dtype=torch.bool)
    tiny[0, 40:42, 10:12] = True  # 4 pixels: under half of any 16x16 token
    tokens = masks_to_tokens(tiny, (4, 4))
    assert tokens.sum() == 1 and tokens[0, 2 * 4 + 0]  # kept: its most covered token
    full = masks_to_tokens(torch.ones(1, 8, 8), (2, 2))
    assert full.all()
    bias = reference_logit_bias(None, torch.tensor([2.0, 0.5]), (2, 2), 2)
    assert bias.tolist() == [2.0] * 4 + [0.5] * 4
    half = torch.zeros(1, 4, 4, dtype=torch.bool)
    half[0, :, :2] = True
    assert torch.isinf(reference_logit_bias(half, torch.tensor([1.0]), (2, 2), 1)).tolist() == [
        False,
        True,
        False,
        True,
    ]


@pytest.mark.parametrize("size", [(64, 64), (48, 32), (17, 23)])
@pytest.mark.parametrize("grid", [(16, 16), (8, 8), (4, 4), (3, 5)])
def test_nearest_mask_resize_is_torch_nearest_interpolation(size, grid):
    g = torch.Generator().manual_seed(size[0] * 100 + grid[0])
    masks = torch.rand(3, *size, generator=g) > 0.7  # (R, H, W) bool
    masks[2] = False
    masks[2, 5:9, 3:7] = True  # a small concept
    want = F.interpolate(masks.float()[:, None], size=grid, mode="nearest")[:, 0].flatten(1) > 0.5
    got = masks_to_tokens(masks, grid, rule="nearest")
    assert torch.equal(got, want)
    bias = reference_logit_bias(masks, torch.tensor([1.0, 2.0, 3.0]), grid, 3, rule="nearest")
    assert torch.equal(torch.isfinite(bias), want.flatten())


def test_nearest_takes_each_tokens_top_left_pixel_and_coverage_half_covered_tokens():
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, 1, 1] = True  # the bottom-right pixel of token (0, 0) of a 2 x 2 grid
    assert not masks_to_tokens(mask, (2, 2), rule="nearest").any()  # the top-left pixel is outside
    assert masks_to_tokens(mask, (2, 2)).tolist() == [[True, False, False, False]]  # kept: most covered
    mask[0, 0, 0] = True  # now the top-left pixel of token (0, 0) too
    assert masks_to_tokens(mask, (2, 2), rule="nearest").tolist() == [[True, False, False, False]]
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, :2, :2] = True
    mask[0, 0, 0] = False  # 3 of 4 pixels, not the top-left one
    assert masks_to_tokens(mask, (2, 2)).tolist() == [[True, False, False, False]]
    assert not masks_to_tokens(mask, (2, 2), rule="nearest").any()
    with pytest.raises(ValueError, match="coverage, nearest"):
        masks_to_tokens(mask, (2, 2), rule="bilinear")
    with pytest.raises(ValueError, match="mask_resize must be one of"):
        ReferenceAttentionState(num_references=1, reference_hw=(4, 4), mask_resize="area")


def test_balanced_weights_give_every_reference_the_same_attention_share():
    masks = torch.zeros(3, 8, 8, dtype=torch.bool)
    masks[0, :4, :8] = True  # 8 tokens of a 4 x 4 grid
    masks[1, :2, :2] = True  # 1 token
    masks[2, 4:, 4:] = True  # 4 tokens
    weights = torch.tensor([3.0, 3.0, 2.0])
    plain = reference_logit_bias(masks, weights, (4, 4), 3).view(3, -1)
    bias = reference_logit_bias(masks, weights, (4, 4), 3, balance=True).view(3, -1)
    assert torch.equal(torch.isinf(bias), torch.isinf(plain))  # the same tokens, only the weights move
    share = bias.exp().sum(dim=1) / weights.exp()  # each reference's prior mass over its own weight's
    assert torch.allclose(share, torch.full((3,), 13 / 3))  # the mean token count, for every reference
    equal = reference_logit_bias(masks[[2, 2]], weights[:2], (4, 4), 2, balance=True)
    assert torch.equal(equal, reference_logit_bias(masks[[2, 2]], weights[:2], (4, 4), 2))  # same size: as is
    # a mask that keeps no token under the authors' rule stays out; the others balance among themselves
    lost = torch.zeros(2, 8, 8, dtype=torch.bool)
    lost[0, 1, 1], lost[1, :4, :4] = True, True
    bias = reference_logit_bias(lost, torch.tensor([3.0, 3.0]), (4, 4), 2, rule="nearest", balance=True)
    assert torch.isinf(bias[:16]).all() and bias[16:].max() == 3.0
