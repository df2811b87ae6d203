"""Cross-image self-attention (training counterpart of multi-reference attention) and its trainer's data."""

import numpy as np
import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from toyworld.train.cross_image import CrossImageAttnProcessor, CrossImageState
from toyworld.train.unet_ref import cross_image_views


def _attn():
    torch.manual_seed(0)
    return Attention(query_dim=16, heads=2, dim_head=8).eval()


def test_without_other_images_it_is_plain_self_attention():
    attn, state = _attn(), CrossImageState()
    x = torch.randn(6, 5, 16)  # 2 groups of 3 rows
    state.present = torch.tensor([[True, False, False], [True, False, False]])
    with torch.no_grad():
        got = CrossImageAttnProcessor(state)(attn, x)
        want = AttnProcessor2_0()(attn, x)
    assert torch.allclose(got, want, atol=1e-6)


def test_the_generated_image_sees_its_present_other_images_only():
    attn, state = _attn(), CrossImageState()
    x = torch.randn(6, 5, 16)
    state.present = torch.tensor([[True, True, False], [True, False, False]])
    proc = CrossImageAttnProcessor(state)
    with torch.no_grad():
        got = proc(attn, x)
        plain = AttnProcessor2_0()(attn, x)
        # group 0: its image attends over [own, other 1]; the same as plain attention on the joined tokens
        joined = AttnProcessor2_0()(attn, torch.cat([x[0], x[1]])[None])[0, :5]
        x2 = x.clone()
        x2[2] += 100.0  # an absent other image changes nothing
        again = proc(attn, x2)
    assert torch.allclose(got[0], joined, atol=1e-5)
    assert not torch.allclose(got[0], plain[0], atol=1e-3)
    assert torch.allclose(got[1:], plain[1:], atol=1e-6)  # other images and the second group: plain
    assert torch.allclose(again[0], got[0], atol=1e-6)
    state.present = torch.ones(2, 4, dtype=torch.bool)
    with pytest.raises(ValueError, match="groups of 4"):
        proc(attn, x)


def test_masked_other_images_show_only_their_object_with_the_mask_weight():
    attn, state = _attn(), CrossImageState()
    x = torch.randn(6, 4, 16)  # 2 groups of 3 rows, 2x2 tokens each
    state.present = torch.tensor([[True, True, True], [True, True, False]])
    proc = CrossImageAttnProcessor(state)
    with torch.no_grad():
        unmasked = proc(attn, x)
        state.latent_hw = (2, 2)
        state.masks = torch.ones(2, 3, 4, 4, dtype=torch.bool)  # pixel masks, reduced to the 2x2 grid
        assert torch.allclose(proc(attn, x), unmasked, atol=1e-6)  # everything inside, weight 0
        state.masks[:, 1:, :2] = False  # the top row of tokens of every other image is outside
        masked = proc(attn, x)
        x2 = x.clone()
        x2[[1, 2, 4], :2] += 100.0  # tokens outside the masks change nothing
        assert torch.allclose(proc(attn, x2)[0], masked[0], atol=1e-5)
        assert torch.allclose(proc(attn, x2)[3], masked[3], atol=1e-5)
        assert not torch.allclose(masked[0], unmasked[0], atol=1e-4)
        state.mask_weight = 3.0  # the other images' keys gain +3: the output moves towards their values
        weighted = proc(attn, x)
        # group 0 by hand: own keys at 0, the other images' bottom-row keys at +3
        p = attn.to_q(x[0]), attn.to_k(x[:3]), attn.to_v(x[:3])
        q = p[0].view(4, 2, 8).transpose(0, 1)  # (h, N, d)
        keep = torch.tensor([True] * 4 + [False, False, True, True] * 2)
        k = p[1].reshape(12, 2, 8).transpose(0, 1)[:, keep]
        v = p[2].reshape(12, 2, 8).transpose(0, 1)[:, keep]
        bias = torch.tensor([0.0] * 4 + [3.0] * 4)
        w = torch.softmax(q @ k.transpose(1, 2) * attn.scale + bias, dim=-1)
        want = attn.to_out[0]((w @ v).transpose(0, 1).reshape(4, 16))
    assert torch.allclose(weighted[0], want, atol=1e-5)
    assert torch.allclose(weighted[1:3], unmasked[1:3], atol=1e-6)  # other images: their own attention


def test_views_show_the_scenes_objects_alone_with_their_concept_phrases():
    scenes, captions, present = cross_image_views(np.random.default_rng(0), 20, group=3)
    assert len(scenes) == len(captions) == 60 and present.shape == (20, 3) and present[:, 0].all()
    assert 0 < present[:, 1:].any(1).float().mean() < 1  # some scenes are denoised alone
    for b in range(20):
        scene = scenes[3 * b]
        for g in range(1, 3):
            view = scenes[3 * b + g]
            if not present[b, g]:
                assert view is scene
                continue
            (obj,) = view.objects
            (src,) = [
                o
                for o in scene.objects
                if (o.shape, o.color, o.texture, o.entity, o.design)
                == (obj.shape, obj.color, obj.texture, obj.entity, obj.design)
            ]
            assert captions[3 * b + g] in (obj.phrase(with_position=False), obj.class_phrase(False))
            if src.phrase() != src.class_phrase():  # named as the scene's caption names its object
                vaguely = src.class_phrase() in captions[3 * b]
                assert (captions[3 * b + g] == obj.class_phrase(False)) == vaguely
    from toyworld.entities import BUCKETS

    named = {o.entity for s in scenes for o in s.objects if o.entity}
    assert named and not named & set(BUCKETS["unseen"])  # unseen entities never appear in training


def test_vague_captions_leave_to_the_other_images_what_they_show():
    from toyworld.scene import ObjectSpec
    from toyworld.world import emblem_object, parse_caption

    plain = ObjectSpec("circle", "red", "large", "striped", (0.0, 0.3, 0.3, 0.6))
    assert plain.class_phrase() == "a large circle on the left"
    (parsed,) = parse_caption(plain.class_phrase())
    assert parsed.shape == "circle" and parsed.color is None
    assert emblem_object((0.0, 0.3, 0.3, 0.6), entity="zorvik").class_phrase() == "an emblem on the left"
    scenes, captions, present = cross_image_views(np.random.default_rng(1), 40, vague_prob=1.0)
    for b in range(40):
        scene, caption = scenes[3 * b], captions[3 * b]
        views = [v.objects[0] for v, p in zip(scenes[3 * b + 1 : 3 * b + 3], present[b, 1:]) if p]
        for obj in scene.objects:
            seen = any(
                (v.shape, v.color, v.texture, v.design, v.entity)
                == (obj.shape, obj.color, obj.texture, obj.design, obj.entity)
                for v in views
            )
            assert (obj.class_phrase() if seen else obj.phrase()) in caption
        for view, p in zip(scenes[3 * b + 1 : 3 * b + 3], captions[3 * b + 1 : 3 * b + 3]):
            assert view is scene or p == view.objects[0].class_phrase(False)
