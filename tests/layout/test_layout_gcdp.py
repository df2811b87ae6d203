"""GCDP: the categorical scheduler, the toy world's semantic layouts, the joint denoiser, the pipeline's three
modes on tiny random weights, the generators, and the trainer's step and exact resume."""

from __future__ import annotations

import pytest
import torch

from generators.layout import BoxLayout
from generators.layout.gcdp import AbsorbingCategoricalScheduler, GCDPDenoiser
from generators.layout.gcdp.generator import layout_class_map
from generators.layout.gcdp.testing import open_residuals, tiny_gcdp_pipeline
from toyworld.semantic import EMBLEM, LAYOUT_CLASSES, downsample_classes, semantic_maps
from toyworld.vocab import SHAPES
from toyworld.world import ShapesWorld

PROMPTS = ["a red circle on the left and a blue square on the right", "a green star at the top"]


@pytest.fixture(scope="module")
def pipe():
    return tiny_gcdp_pipeline(seed=0)


def gens(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


# ------------------------------------------------------------------ the categorical scheduler
def test_masking_follows_the_schedule():
    sched = AbsorbingCategoricalScheduler(num_classes=8)
    layout = torch.randint(0, 8, (64, 16, 16))
    t = torch.full((64,), 499)
    masked = sched.add_noise(layout, t, generator=torch.Generator().manual_seed(0))
    share = (masked == 8).float().mean().item()
    assert abs(share - 0.5) < 0.02
    kept = masked != 8
    assert torch.equal(masked[kept], layout[kept])  # unmasked positions are untouched
    assert (sched.add_noise(layout, torch.full((64,), -1)) == layout).all()  # a negative step: clean


def test_reverse_steps_reveal_everything_and_keep_revealed_classes():
    sched = AbsorbingCategoricalScheduler(num_classes=3)
    sched.set_timesteps(5)
    layout = torch.full((2, 8, 8), 3)
    logits = torch.zeros(2, 3, 8, 8)
    logits[:, 2] = 50.0  # the model is sure every position is class 2
    g = torch.Generator().manual_seed(0)
    hidden = []
    for t in sched.timesteps:
        before = layout.clone()
        layout = sched.step(logits, int(t), layout, generator=g).prev_sample
        revealed = before != 3
        assert torch.equal(layout[revealed], before[revealed])
        hidden.append((layout == 3).sum().item())
    assert hidden[-1] == 0 and (layout == 2).all()
    assert hidden == sorted(hidden, reverse=True) and hidden[0] > 0  # revealed gradually


def test_noise_schedule_masks_the_latents_noise_share():
    from diffusers import DDPMScheduler

    from toyworld.train.unet import SCHEDULER_CONFIG

    sched = AbsorbingCategoricalScheduler(num_classes=8, mask_schedule="noise")
    alphas = DDPMScheduler(**SCHEDULER_CONFIG).alphas_cumprod
    t = torch.arange(-1, 1000)
    gamma = sched.mask_ratio(t)
    assert gamma[0] == 0 and abs(gamma[-1].item() - 1) < 1e-6 and (gamma.diff() > 0).all()
    want = (1 - alphas) / (1 - alphas[-1])
    torch.testing.assert_close(gamma[1:], want.float(), rtol=1e-4, atol=1e-5)
    snr_one = int((alphas < 0.5).nonzero()[0])  # the first step whose latent is more noise than signal
    assert abs(gamma[snr_one + 1].item() - 0.5) < 0.01  # half the layout is still hidden there
    assert gamma[501] > AbsorbingCategoricalScheduler(num_classes=8).mask_ratio(500) + 0.2  # revealed later


def test_unknown_mask_schedule_is_refused():
    with pytest.raises(ValueError, match="mask_schedule"):
        AbsorbingCategoricalScheduler(mask_schedule="square")


# ------------------------------------------------------------------ the toy world's layouts
def test_semantic_maps_hold_each_objects_class():
    batch = ShapesWorld(64).batch(seed=3, split="train", start=0, count=16, n_objects=(1, 4), entity_prob=0.3)
    maps = semantic_maps(batch.scenes, batch.masks)
    assert maps.shape == (16, 64, 64)
    for scene, mask, cmap in zip(batch.scenes, batch.masks, maps):
        for i, obj in enumerate(scene.objects):
            want = EMBLEM if obj.entity is not None else 1 + SHAPES.index(obj.shape)
            assert (cmap[mask == i + 1] == want).all()
        assert (cmap[mask == 0] == 0).all()
    small = downsample_classes(maps, 4)
    assert small.shape == (16, 16, 16) and small.max() < len(LAYOUT_CLASSES)
    for scene, s in zip(batch.scenes, small):  # every object keeps at least one latent position
        want = {EMBLEM if o.entity is not None else 1 + SHAPES.index(o.shape) for o in scene.objects}
        assert want <= set(s.unique().tolist())


def test_box_layout_becomes_the_class_map_of_its_shapes():
    layout = BoxLayout(
        phrases=["a red circle", "a blue square"], boxes=[(0.0, 0.0, 0.5, 0.5), (0.5, 0.5, 1.0, 1.0)]
    )
    cmap = layout_class_map(layout, 32)
    assert cmap[8, 8] == 1 + SHAPES.index("circle") and cmap[24, 24] == 1 + SHAPES.index("square")
    assert cmap[8, 24] == 0 and cmap[0, 0] == 0  # outside the boxes, and the circle's corner
    with pytest.raises(ValueError, match="names no shape"):
        layout_class_map(BoxLayout(phrases=["a red thing"], boxes=[(0.0, 0.0, 0.5, 0.5)]), 32)


# ------------------------------------------------------------------ the denoiser
def test_denoiser_from_unet_starts_as_the_unet_for_any_layout(pipe):
    from workbench.dummy import dummy_unet

    unet = dummy_unet(seed=1, cross_attention_dim=pipe.text_encoder.config.hidden_size)
    den = GCDPDenoiser.from_unet(unet, num_classes=8, layout_embed_dim=8)
    x = torch.randn(2, 4, 16, 16)
    states = torch.randn(2, 77, pipe.text_encoder.config.hidden_size)
    t = torch.tensor([10, 500])
    ref = unet(x, t, encoder_hidden_states=states).sample
    for layout in (torch.randint(0, 9, (2, 16, 16)), torch.full((2, 16, 16), 8), torch.zeros(2, 16, 16)):
        out = den(x, layout, t, encoder_hidden_states=states)
        assert out.sample.shape == (2, 4, 16, 16) and out.logits.shape == (2, 8, 16, 16)
        assert torch.equal(out.sample, ref)  # the image side is the UNet's, bit for bit
    # the trunk's own input and output convolutions are the UNet's
    assert torch.equal(den.unet.conv_in.conv.weight, unet.conv_in.weight)
    assert torch.equal(den.unet.conv_out.conv.weight, unet.conv_out.weight)
    with pytest.raises(ValueError, match="does not match latents"):
        den(x, layout[:, :8], 10, encoder_hidden_states=states)


def test_the_layout_moves_the_noise_once_its_residuals_are_open(pipe):
    from workbench.dummy import dummy_unet

    unet = dummy_unet(seed=1, cross_attention_dim=pipe.text_encoder.config.hidden_size)
    den = GCDPDenoiser.from_unet(unet)
    x, states = torch.randn(2, 4, 16, 16), torch.randn(2, 77, pipe.text_encoder.config.hidden_size)
    a, b = torch.zeros(2, 16, 16, dtype=torch.long), torch.zeros(2, 16, 16, dtype=torch.long)
    b[:, 4:12, 4:12] = 3
    with torch.no_grad():
        assert torch.equal(den(x, a, 10, states).sample, den(x, b, 10, states).sample)
        open_residuals(den)
        moved = den(x, b, 10, states).sample
        assert not torch.allclose(den(x, a, 10, states).sample, moved)
        assert not torch.allclose(unet(x, 10, encoder_hidden_states=states).sample, moved)


def test_denoiser_config_errors_say_what_to_give():
    from diffusers import UNet2DConditionModel

    from workbench.dummy import dummy_unet

    trunk = dict(dummy_unet(seed=0).config)
    with pytest.raises(ValueError, match="at least 2 classes"):
        GCDPDenoiser(trunk=trunk, num_classes=1)
    with pytest.raises(ValueError, match="layout_embed_dim=0"):
        GCDPDenoiser(trunk=trunk, layout_embed_dim=0)
    with pytest.raises(ValueError, match="noise-predicting UNet"):
        GCDPDenoiser(trunk={**trunk, "in_channels": 12})
    with pytest.raises(ValueError, match="noise-predicting UNet"):
        GCDPDenoiser.from_unet(UNet2DConditionModel(**{**trunk, "out_channels": 8}))


# ------------------------------------------------------------------ the pipeline's modes
def test_text_to_image_and_layout(pipe):
    out = pipe(PROMPTS, num_inference_steps=3, generator=gens(0, 1))
    assert out.images.shape == (2, 3, 32, 32) and 0 <= out.images.min() and out.images.max() <= 1
    assert out.layouts.shape == (2, 16, 16) and out.layouts.dtype == torch.long
    assert out.layouts.min() >= 0 and out.layouts.max() < 8  # every position revealed, no [MASK] left
    again = pipe(PROMPTS, num_inference_steps=3, generator=gens(0, 1))
    assert torch.equal(out.images, again.images) and torch.equal(out.layouts, again.layouts)
    other = pipe(PROMPTS, num_inference_steps=3, generator=gens(5, 6))
    assert not torch.equal(out.images, other.images)


def test_the_layout_held_masked_leaves_the_image_side_alone():
    fresh = tiny_gcdp_pipeline(seed=0)  # the layout's residuals at zero: the layout cannot move the image
    joint = fresh(PROMPTS, num_inference_steps=3, generator=gens(0, 1))
    alone = fresh(PROMPTS, num_inference_steps=3, generator=gens(0, 1), reveal_layout=False)
    assert (alone.layouts == 8).all() and (joint.layouts < 8).all()
    torch.testing.assert_close(alone.images, joint.images)
    open_residuals(fresh.denoiser)
    joint = fresh(PROMPTS, num_inference_steps=3, generator=gens(0, 1))
    alone = fresh(PROMPTS, num_inference_steps=3, generator=gens(0, 1), reveal_layout=False)
    assert not torch.allclose(alone.images, joint.images)  # now the sampled layout steers the image


def test_layout_to_image_keeps_the_layout_and_it_changes_the_image(pipe):
    open_residuals(pipe.denoiser)  # as trained: the layout's residuals no longer zero
    given = torch.zeros(2, 16, 16, dtype=torch.long)
    given[:, 4:12, 2:8] = 1
    out = pipe(PROMPTS, layout=given, num_inference_steps=3, generator=gens(0, 1))
    assert torch.equal(out.layouts, given)
    empty = pipe(PROMPTS, layout=torch.zeros_like(given), num_inference_steps=3, generator=gens(0, 1))
    assert not torch.allclose(out.images, empty.images)
    pixels = torch.zeros(2, 32, 32, dtype=torch.long)  # a per-pixel layout is reduced to the latent grid
    pixels[:, 8:24, 4:16] = 1
    assert torch.equal(pipe(PROMPTS, layout=pixels, num_inference_steps=2).layouts, given)


def test_image_to_layout_segments_a_given_image(pipe):
    images = ShapesWorld(32).batch(seed=0, split="test", start=0, count=2, n_objects=2).images
    out = pipe(PROMPTS, image=images, num_inference_steps=3, generator=gens(0, 1), guidance_scale=1.0)
    assert out.layouts.shape == (2, 16, 16) and out.layouts.max() < 8
    decoded = pipe.vae.decode(pipe.vae.encode(images * 2 - 1).latent_dist.mean).sample
    torch.testing.assert_close(out.images, (decoded / 2 + 0.5).clamp(0, 1), rtol=1e-4, atol=1e-4)


def test_bad_inputs_give_one_line_errors(pipe):
    with pytest.raises(ValueError, match="not both"):
        pipe(PROMPTS, layout=torch.zeros(16, 16, dtype=torch.long), image=torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match="class ids must lie"):
        pipe(PROMPTS, layout=torch.full((16, 16), 9))
    with pytest.raises(ValueError, match="fits neither"):
        pipe(PROMPTS, layout=torch.zeros(2, 20, 20, dtype=torch.long))
    with pytest.raises(ValueError, match="output_type"):
        pipe(PROMPTS, output_type="jpeg")


# ------------------------------------------------------------------ layout guidance
def _rows_per_call(pipe):
    """Record the batch size of every denoiser call; returns the list and the hook's handle."""
    rows = []
    handle = pipe.denoiser.register_forward_pre_hook(lambda _m, args: rows.append(args[0].shape[0]))
    return rows, handle


@torch.no_grad()
def _unguided_reference(pipe, prompts, layout, steps, generator, scale=5.0):
    """Layout -> image as the pipeline ran before layout guidance: text guidance only, batch (empty, c)."""
    states = pipe.encode_prompt(prompts, "cpu")
    states = torch.cat([pipe.encode_prompt([""], "cpu").expand_as(states), states])
    pipe.scheduler.set_timesteps(steps)
    latents = torch.stack([torch.randn(4, 16, 16, generator=g) for g in generator])
    latents = latents * pipe.scheduler.init_noise_sigma
    for t in pipe.scheduler.timesteps:
        x = pipe.scheduler.scale_model_input(torch.cat([latents] * 2), t)
        n_u, n_c = pipe.denoiser(x, torch.cat([layout] * 2), t, encoder_hidden_states=states).sample.chunk(2)
        latents = pipe.scheduler.step(n_u + scale * (n_c - n_u), t, latents).prev_sample
    return latents


def _given_layout():
    given = torch.zeros(2, 16, 16, dtype=torch.long)
    given[:, 4:12, 2:8] = 1
    return given


def test_layout_guidance_one_is_the_unguided_output_exactly():
    guided = tiny_gcdp_pipeline(seed=0)
    open_residuals(guided.denoiser)
    rows, handle = _rows_per_call(guided)
    out = guided(
        PROMPTS,
        layout=_given_layout(),
        num_inference_steps=3,
        generator=gens(0, 1),
        layout_guidance_scale=1.0,
        output_type="latent",
    )
    handle.remove()
    assert rows == [4, 4, 4]  # (empty, L) and (c, L): no extra batch
    assert torch.equal(out.images, _unguided_reference(guided, PROMPTS, _given_layout(), 3, gens(0, 1)))


def test_layout_guidance_scales_the_layouts_direction_once_the_branch_is_open():
    pipe = tiny_gcdp_pipeline(seed=0)

    def latents(scale, guidance=1.0, **kw):
        kw = {"layout": _given_layout(), **kw}
        return pipe(
            PROMPTS,
            num_inference_steps=1,
            generator=gens(0, 1),
            guidance_scale=guidance,
            layout_guidance_scale=scale,
            output_type="latent",
            **kw,
        ).images  # (B, 4, h, w): one DDIM step, affine in the guided noise

    # residuals at zero: the layout cannot move the noise, so neither can its guidance
    torch.testing.assert_close(latents(3.0), latents(1.0))
    open_residuals(pipe.denoiser)
    one, three = latents(1.0), latents(3.0)
    assert not torch.allclose(one, three)
    # s_L = 0 is the prediction without a layout (the all-[MASK] one); s_L = 3 goes twice as far past s_L = 1
    without = latents(1.0, layout=None, reveal_layout=False)
    torch.testing.assert_close(latents(0.0), without, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(three - one, 2 * (one - without), rtol=1e-4, atol=1e-5)
    # with text guidance too (batch 3B): still affine in s_L, and continuous through s_L = 1
    rows, handle = _rows_per_call(pipe)
    two, three = latents(2.0, guidance=5.0), latents(3.0, guidance=5.0)
    handle.remove()
    assert rows == [6, 6]  # (empty, L), (c, L), (c, M) in one batch
    torch.testing.assert_close(three - two, two - latents(1.0, guidance=5.0), rtol=1e-4, atol=1e-5)


def test_layout_guidance_in_the_joint_mode_follows_the_revealed_layout():
    pipe = tiny_gcdp_pipeline(seed=0)
    open_residuals(pipe.denoiser)

    def joint(**kw):
        return pipe(PROMPTS, num_inference_steps=3, generator=gens(0, 1), output_type="latent", **kw).images

    rows, handle = _rows_per_call(pipe)
    masked = joint(reveal_layout=False, layout_guidance_scale=3.0)
    assert rows == [4, 4, 4]  # every cell [MASK]: nothing to guide, no extra batch
    assert torch.equal(masked, joint(reveal_layout=False, layout_guidance_scale=1.0))
    rows.clear()
    guided = joint(layout_guidance_scale=3.0)
    handle.remove()
    assert rows == [4, 6, 6]  # all [MASK] at the first step, then revealed cells to guide on
    assert not torch.allclose(guided, joint(layout_guidance_scale=1.0))
    # the layout's logits keep the text guidance alone: over two steps (the first all [MASK], so the second sees
    # the same latents and layout either way) the logits the layout is revealed from agree
    seen, step = [], pipe.layout_scheduler.step

    def recording_step(logits, *args, **kwargs):
        seen.append(logits)
        return step(logits, *args, **kwargs)

    pipe.layout_scheduler.step = recording_step
    for s in (1.0, 3.0):
        joint_two = dict(num_inference_steps=2, generator=gens(0, 1), output_type="latent")
        pipe(PROMPTS, layout_guidance_scale=s, **joint_two)
    del pipe.layout_scheduler.step
    torch.testing.assert_close(seen[1], seen[3], rtol=1e-4, atol=1e-5)  # the second step of each run
    # image -> layout: the noise is not used, so no extra pass and the same layouts
    images = ShapesWorld(32).batch(seed=0, split="test", start=0, count=2, n_objects=2).images
    rows, handle = _rows_per_call(pipe)
    seg = [
        pipe(PROMPTS, image=images, num_inference_steps=3, generator=gens(0, 1), layout_guidance_scale=s)
        for s in (1.0, 3.0)
    ]
    handle.remove()
    assert rows == [4] * 6 and torch.equal(seg[0].layouts, seg[1].layouts)


def test_layout_guidance_errors_are_one_line(pipe):
    from pydantic import ValidationError

    from generators.layout.gcdp.evaluate import main
    from generators.layout.gcdp.generator import GCDPConfig

    with pytest.raises(ValueError, match="layout_guidance_scale=-1.0: give a scale >= 0"):
        pipe(PROMPTS, layout_guidance_scale=-1.0)
    with pytest.raises(ValidationError, match="layout_guidance_scale"):
        GCDPConfig(layout_guidance_scale=-1.0)
    with pytest.raises(SystemExit):
        main(["--layout-guidance", "-2", "--sd-only"])


# ------------------------------------------------------------------ the generators
def test_registered_generators_run_on_the_pipeline(pipe):
    from generators.layout.methods import layout_generators, layout_request
    from workbench.generation import build_generator

    assert {"gcdp", "gcdp_layout"} <= set(layout_generators())
    layouts = [
        BoxLayout(
            phrases=["a red circle", "a blue square"], boxes=[(0.0, 0.3, 0.4, 0.7), (0.6, 0.3, 1.0, 0.7)]
        ),
        BoxLayout(phrases=["a green star"], boxes=[(0.3, 0.0, 0.7, 0.4)]),
    ]
    request = layout_request(PROMPTS, layouts, [None, None], gens(0, 1), 2, 5.0)
    joint = build_generator("gcdp", pipe)
    assert joint(request).shape == (2, 3, 32, 32) and joint.last_layouts.shape == (2, 16, 16)
    given = build_generator("gcdp_layout", pipe, {"temperature": 0.0})
    assert given(request).shape == (2, 3, 32, 32)
    assert given.last_layouts[1].unique().tolist() == [0, 1 + SHAPES.index("star")]
    with pytest.raises(ValueError, match="temperature"):
        build_generator("gcdp", pipe, {"temperature": -1})


# ------------------------------------------------------------------ the trainer
def _tiny_trainer(seed: int = 0):
    from generators.layout.gcdp.train import GCDPTrainer
    from workbench.dummy import dummy_sd_components

    c = dummy_sd_components(seed=0, image_size=32)
    return GCDPTrainer(
        seed=seed,
        batch_size=4,
        image_size=32,
        reuse=2,
        eval_batches=1,
        parts=(c["vae"], c["text_encoder"], c["tokenizer"], c["unet"]),
    )


def test_trainer_step_and_checkpoint_round_trip():
    trainer = _tiny_trainer()
    logs = trainer.step(0)
    assert set(logs) == {"loss", "image_loss", "layout_ce", "layout_acc"}
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())
    copy = _tiny_trainer()
    copy.load_state_dict(trainer.state_dict())
    for (name, a), b in zip(trainer.denoiser.state_dict().items(), copy.denoiser.state_dict().values()):
        assert torch.equal(a, b), name
    assert copy.opt.state_dict()["state"].keys() == trainer.opt.state_dict()["state"].keys()


def test_the_layout_dropped_task_shows_no_layout_and_trains_the_noise_alone():
    trainer = _tiny_trainer()
    seen = []
    handle = trainer.denoiser.register_forward_pre_hook(lambda _m, args: seen.append(args[1].clone()))
    encoded = trainer.encoded(0)
    tasks = torch.full((4,), 3)  # layout dropped
    _, logs = trainer.loss(*encoded, torch.Generator().manual_seed(0), tasks=tasks)
    assert (seen[-1] == trainer.layout_scheduler.mask_id).all()  # all [MASK], whatever the step
    assert logs["layout_ce"] == 0 and logs["image_loss"] > 0  # no layout to predict: the noise alone
    _, logs = trainer.loss(*encoded, torch.Generator().manual_seed(0), tasks=torch.full((4,), 1))
    handle.remove()
    assert (seen[-1] < trainer.layout_scheduler.mask_id).all()  # layout given: nothing masked


def test_the_trunk_stays_the_toy_sds_and_the_layout_layers_learn():
    trainer = _tiny_trainer()
    before = {k: v.clone() for k, v in trainer.denoiser.state_dict().items()}
    for step in range(2):
        trainer.step(step)
    after = trainer.denoiser.state_dict()
    trunk = [k for k in after if k.startswith("unet.") and not k.startswith("unet.conv_in.zero")]
    assert trunk and all(torch.equal(after[k], before[k]) for k in trunk)  # frozen, conv_in / conv_out too
    for key in (
        "layout_encoder.zero_mid.weight",
        "layout_encoder.zero_convs.0.weight",
        "unet.conv_in.zero.weight",
        "layout_head.out.weight",
    ):
        assert not torch.equal(after[key], before[key]), key  # the residuals open, the head learns
    assert not torch.equal(after["layout_embedding.weight"], before["layout_embedding.weight"])
    assert all(p.requires_grad for p in trainer.trained_parameters())
    assert len(trainer.trained_parameters()) == len(trainer.denoiser.layout_parameters())


def test_the_trunk_learns_at_its_share_after_its_frozen_steps():
    from generators.layout.gcdp.train import GCDPTrainer
    from workbench.dummy import dummy_sd_components

    c = dummy_sd_components(seed=0, image_size=32)
    parts = (c["vae"], c["text_encoder"], c["tokenizer"], c["unet"])
    trainer = GCDPTrainer(
        batch_size=4, image_size=32, reuse=2, parts=parts, trunk_lr_scale=0.1, trunk_frozen_steps=1
    )
    before = {
        k: v.clone()
        for k, v in trainer.denoiser.state_dict().items()
        if k.startswith("unet.") and not k.startswith("unet.conv_in.zero")
    }
    trainer.step(0)
    assert all(torch.equal(trainer.denoiser.state_dict()[k], v) for k, v in before.items())
    trainer.step(1)
    assert any(not torch.equal(trainer.denoiser.state_dict()[k], v) for k, v in before.items())
    lrs = [g["lr"] for g in trainer.opt.param_groups]
    assert lrs[1] == pytest.approx(lrs[0] * 0.1)


@pytest.mark.slow
def test_trainer_steps_and_resumes_exactly(tmp_path):
    from toyworld.train.loop import run_training

    straight = _tiny_trainer()
    for step in range(2):
        logs = straight.step(step)
        assert set(logs) == {"loss", "image_loss", "layout_ce", "layout_acc"}
        assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())
    first = _tiny_trainer()
    first.evaluate = dict  # the held-out evaluation is checked once, below
    assert run_training(first, tmp_path / "run", max_steps=1, eval_every=10**6)["step"] == 1
    resumed = _tiny_trainer()
    out = run_training(resumed, tmp_path / "run", max_steps=2, eval_every=10**6)
    assert (
        out["step"] == 2 and 0 <= out["val_image_given_layout_acc"] <= 1 and out["val_joint_image_loss"] > 0
    )
    for (name, a), b in zip(straight.denoiser.state_dict().items(), resumed.denoiser.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    fresh = _tiny_trainer().denoiser.state_dict()
    assert any(not torch.equal(v, fresh[k]) for k, v in resumed.denoiser.state_dict().items())  # it trained
    from generators.layout.gcdp.generator import load_gcdp_pipeline

    resumed.export(tmp_path / "export", {"steps": 2, "minutes": 0.1, "metrics": out})
    assert "steps" in (tmp_path / "export" / "README.md").read_text()
    pipe = load_gcdp_pipeline(tmp_path / "export")
    assert pipe(PROMPTS[:1], num_inference_steps=2).layouts.shape == (1, 16, 16)


def test_trainer_is_registered_and_refuses_bad_task_shares():
    from toyworld.train.registry import TRAINERS
    from workbench.plugins import load_plugins

    load_plugins()
    assert "gcdp" in TRAINERS
    from generators.layout.gcdp.train import GCDPTrainer

    with pytest.raises(ValueError, match="task_probs"):
        GCDPTrainer(task_probs=(0.5, 0.5, 0.5), parts=(None, None, None, None))
    with pytest.raises(ValueError, match="4 shares of .*layout_dropped"):
        GCDPTrainer(task_probs=(0.5, 0.3, 0.2), parts=(None, None, None, None))
    with pytest.raises(ValueError, match="lr must be > 0"):
        GCDPTrainer(lr=0.0, parts=(None, None, None, None))
    with pytest.raises(ValueError, match="trunk_lr_scale=-0.1"):
        GCDPTrainer(trunk_lr_scale=-0.1, parts=(None, None, None, None))


# ------------------------------------------------------------------ the evaluation's measures
def test_layout_miou_and_the_layout_detections_imply():
    from types import SimpleNamespace

    from generators.layout.gcdp.evaluate import implied_layouts, layout_miou

    batch = ShapesWorld(64).batch(seed=1, split="test", start=0, count=4, n_objects=2)
    exact = downsample_classes(semantic_maps(batch.scenes, batch.masks), 4)
    dets = [
        [SimpleNamespace(entity=o.entity, shape=o.shape, box=o.box) for o in s.objects] for s in batch.scenes
    ]
    torch.testing.assert_close(layout_miou(exact, implied_layouts(dets, 64, 4)), torch.ones(4))
    empty = torch.zeros_like(exact)
    miou = layout_miou(exact, empty)
    assert (miou < 0.5).all() and (miou > 0).all()  # the background agrees, the objects do not


# ------------------------------------------------------------------ the layout experiment
@pytest.mark.slow
def test_layout_experiment_runs_gcdp_methods(tmp_path):
    import json

    from generators.layout.experiment import LayoutEvalConfig
    from workbench.runs import run_experiment

    cfg = LayoutEvalConfig(
        models={"sd": "dummy", "judge": "random", "clip": "none", "gligen": "none", "gcdp": "dummy"},
        prompts={"counts": {2: 2}},
        methods=["stock", "gcdp", "gcdp_layout"],
        generation={"num_inference_steps": 2},
        batch_size=2,
        grid_images=1,
        output_dir=str(tmp_path),
    )
    metrics = json.loads((run_experiment(cfg) / "metrics.json").read_text())
    for key in ("gcdp.two_object.all_present", "gcdp_layout.two_object.mean_iou", "time_ratio_vs_stock.gcdp"):
        assert key in metrics, key
    with pytest.raises(FileNotFoundError, match="no GCDP pipeline"):
        run_experiment(
            cfg.model_copy(update={"models": cfg.models.model_copy(update={"gcdp": str(tmp_path / "x")})})
        )


# ------------------------------------------------------------------ the real code path
@pytest.mark.slow
def test_saved_sd15_shaped_gcdp_loads_and_runs_every_mode(tmp_path):
    """SD-1.5-shaped components (random weights) saved and loaded as a user's would be: the GCDP pipeline
    built on them, saved with ``save_pretrained``, loaded with ``from_pretrained``, all three modes."""
    from generators.layout.gcdp.generator import load_gcdp_pipeline
    from generators.layout.gcdp.pipeline import GCDPPipeline
    from generators.layout.gcdp.testing import gcdp_pipeline_from_sd
    from toyworld.train.storage import save_pipeline_half
    from workbench.dummy import save_dummy_sd
    from workbench.loading import load_sd_pipeline
    from workbench.runtime import Runtime

    rt = Runtime(seed=0, device="cpu")
    sd = load_sd_pipeline(str(save_dummy_sd(tmp_path / "sd15-shaped", seed=3)), rt)
    built = gcdp_pipeline_from_sd(sd)
    save_pipeline_half(built, tmp_path / "gcdp")
    index = (tmp_path / "gcdp" / "model_index.json").read_text()
    assert "generators.layout.gcdp.model" in index and "AbsorbingCategoricalScheduler" in index
    pipe = load_gcdp_pipeline(tmp_path / "gcdp", rt)
    assert isinstance(pipe, GCDPPipeline) and pipe.denoiser.dtype == torch.float32
    ref = built(PROMPTS, num_inference_steps=2, generator=gens(0, 1))
    out = pipe(PROMPTS, num_inference_steps=2, generator=gens(0, 1))
    torch.testing.assert_close(out.images, ref.images, rtol=0, atol=2e-2)  # float16 storage rounding only
    given = pipe(PROMPTS, layout=out.layouts, num_inference_steps=2, generator=gens(0, 1))
    assert torch.equal(given.layouts, out.layouts)
    seg = pipe(PROMPTS, image=out.images, num_inference_steps=2, generator=gens(0, 1), output_type="np")
    assert seg.images.shape == (2, 32, 32, 3) and seg.layouts.shape == (2, 16, 16)
    with pytest.raises(FileNotFoundError, match="workbench toy train gcdp"):
        load_gcdp_pipeline(tmp_path / "missing")


def test_gcdp_over_a_text_to_image_pipeline_needs_the_trained_model(monkeypatch, tmp_path):
    from generators.layout.gcdp import generator as gen
    from workbench.dummy import dummy_sd_pipeline
    from workbench.generation import build_generator

    monkeypatch.setattr(gen, "GCDP_DIR", tmp_path / "gcdp")
    with pytest.raises(FileNotFoundError, match="workbench toy train gcdp"):
        build_generator("gcdp", dummy_sd_pipeline())
