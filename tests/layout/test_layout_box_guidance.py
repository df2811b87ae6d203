"""Training-free box guidance: identical to the stock pipeline when off, processors restored, the energy
falls under guidance, attention maps returned; the energies themselves."""

from __future__ import annotations

import pytest
import torch
from diffusers import StableDiffusionPipeline

from generators.layout import BoxGuidanceConfig, BoxLayout, LayoutError, StableDiffusionBoxGuidancePipeline
from generators.layout.energy import ENERGIES, SampleTargets
from generators.layout.processors import AttentionStore, recording_processors

from .conftest import PROMPT, make


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_guidance_off_is_the_stock_pipeline(components, two_boxes):
    stock = make(StableDiffusionPipeline, components)
    pipe = make(StableDiffusionBoxGuidancePipeline, components)
    ref = stock(
        [PROMPT, "a blue square"], num_inference_steps=3, generator=[_gen(0), _gen(1)], output_type="pt"
    ).images
    layouts = [two_boxes, BoxLayout(phrases=["a blue square"], boxes=[(0.5, 0.2, 1.0, 0.8)])]
    off = BoxGuidanceConfig(guided_steps=0)
    out = pipe(
        [PROMPT, "a blue square"],
        layout=layouts,
        guidance=off,
        num_inference_steps=3,
        generator=[_gen(0), _gen(1)],
        output_type="pt",
    )
    assert torch.equal(out.images, ref)
    assert out.energies == []
    on = pipe(PROMPT, layout=two_boxes, num_inference_steps=3, generator=_gen(0), output_type="pt")
    assert not torch.equal(on.images, ref[:1])  # guidance changes the image


def test_processors_restored_after_call_and_on_error(components, two_boxes):
    pipe = make(StableDiffusionBoxGuidancePipeline, components)
    before = dict(pipe.unet.attn_processors)
    pipe(
        PROMPT,
        layout=two_boxes,
        guidance=BoxGuidanceConfig.preset("fast", guided_steps=1),
        num_inference_steps=2,
        output_type="pt",
    )
    after = pipe.unet.attn_processors
    assert after.keys() == before.keys() and all(after[k] is before[k] for k in before)
    with pytest.raises(ValueError, match="attention resolution"):
        pipe(
            PROMPT,
            layout=two_boxes,
            guidance=BoxGuidanceConfig(attention_resolution=3),
            num_inference_steps=2,
        )
    after = pipe.unet.attn_processors
    assert all(after[k] is before[k] for k in before)


def test_recording_store_idle_changes_nothing(components):
    unet = components["unet"]
    x = torch.randn(1, 4, 16, 16, generator=_gen(3))
    text = torch.randn(1, 77, 32, generator=_gen(4))
    with torch.no_grad():
        ref = unet(x, 10, encoder_hidden_states=text).sample
        store = AttentionStore({16 * 16})
        with recording_processors(unet, store) as names:
            idle = unet(x, 10, encoder_hidden_states=text).sample
            with store.recording():
                rec = unet(x, 10, encoder_hidden_states=text).sample
    assert torch.equal(idle, ref)
    assert torch.allclose(rec, ref, atol=1e-5)
    assert set(store.maps) == {n for n in names if not n.startswith("mid_block")}  # mid is 8x8
    for probs in store.maps.values():
        assert probs.shape == (1, 256, 77)
        assert torch.allclose(probs.sum(-1), torch.ones(1, 256), atol=1e-5)


def test_guidance_step_lowers_the_energy(components, two_boxes):
    pipe = make(StableDiffusionBoxGuidancePipeline, components)
    latents = torch.randn(1, 4, 16, 16, generator=_gen(5))
    cond = pipe.encode_prompt(PROMPT, "cpu", 1, False)[0]
    pipe.scheduler.set_timesteps(10)
    t = pipe.scheduler.timesteps[0]
    shapes = pipe.map_shapes((16, 16), 16)
    targets = [SampleTargets.build(two_boxes, PROMPT, pipe.tokenizer, shapes)]
    for energy in ("layout", "boxdiff"):
        store = AttentionStore({256}, early_exit=True)
        with recording_processors(pipe.unet, store):
            moved, e0 = pipe._energy_step(latents, t, cond, targets, store, ENERGIES.get(energy), 200.0)
            _, e1 = pipe._energy_step(moved, t, cond, targets, store, ENERGIES.get(energy), 0.0)
        assert e1 < e0, energy


def test_attention_maps_and_energies_returned(components, two_boxes):
    pipe = make(StableDiffusionBoxGuidancePipeline, components)
    out = pipe(
        PROMPT,
        layout=two_boxes,
        guidance=BoxGuidanceConfig.preset("layout-guidance", guided_steps=2, iterations=2),
        num_inference_steps=3,
        num_images_per_prompt=2,
        output_type="pt",
        return_attention=True,
    )
    assert out.images.shape == (2, 3, 32, 32)
    assert len(out.attention_maps) == 2 and out.attention_maps[0].shape == (2, 32, 32)
    assert float(out.attention_maps[0].amax()) == pytest.approx(1.0)
    assert len(out.energies) == 4


def test_layout_errors_surface_in_the_pipeline(components, two_boxes):
    pipe = make(StableDiffusionBoxGuidancePipeline, components)
    with pytest.raises(LayoutError, match="do not occur in the prompt"):
        pipe("a red circle and a green star", layout=two_boxes, num_inference_steps=1)
    with pytest.raises(LayoutError, match="2 prompts but 3 layouts"):
        pipe([PROMPT, PROMPT], layout=[two_boxes] * 3, num_inference_steps=1)
    with pytest.raises(ValueError, match="unknown layout energy"):
        BoxGuidanceConfig(energy="nope")


def _targets(mask_left: bool) -> list[SampleTargets]:
    masks = torch.zeros(1, 4, 4)
    if mask_left:
        masks[0, :, :2] = 1
    else:
        masks[0, :, 2:] = 1
    return [SampleTargets(token_indices=[[1]], masks={16: masks}, text_end=3)]


@pytest.mark.parametrize("name", ["layout", "boxdiff"])
def test_energies_prefer_attention_inside_the_box(name):
    probs = torch.full((1, 16, 4), 0.01)
    probs.view(1, 4, 4, 4)[0, :, :2, 1] = 1.0  # token 1 attends to the left half
    inside = ENERGIES.get(name)({"l": probs}, _targets(True))
    outside = ENERGIES.get(name)({"l": probs}, _targets(False))
    assert inside.shape == (1,) and float(inside) < float(outside)
    if name == "layout":
        assert float(inside) < 1e-3


def test_semantic_layout_drives_guidance_and_regions(components):
    from generators.layout import SemanticLayout, StableDiffusionRegionsPipeline

    lm = torch.zeros(32, 32, dtype=torch.long)
    lm[8:24, 2:14] = 1
    lm[4:28, 18:30] = 2
    lay = SemanticLayout(phrases=["a red circle", "a blue square"], label_map=lm)
    guided = make(StableDiffusionBoxGuidancePipeline, components)
    out = guided(
        PROMPT,
        layout=lay,
        guidance=BoxGuidanceConfig(guided_steps=1),
        num_inference_steps=2,
        output_type="pt",
    )
    assert len(out.energies) == 1 and out.images.shape == (1, 3, 32, 32)
    regions = make(StableDiffusionRegionsPipeline, components)
    res = regions(PROMPT, layout=lay, num_inference_steps=1, output_type="pt")
    assert torch.equal(res.region_masks[0][1:], lay.region_masks(16, 16))
