"""GCDP's layout sampling options: the order masked cells are revealed in (random or most confident first) and
the layout-first schedule (the layout fully revealed within the first share of the steps)."""

from __future__ import annotations

import pytest
import torch

from generators.layout.gcdp import AbsorbingCategoricalScheduler
from generators.layout.gcdp.generator import GCDPConfig
from generators.layout.gcdp.pipeline import (
    LAYOUT_FRACTION,
    LAYOUT_TEMPERATURE,
    REVEAL_ORDER,
    SEGMENTATION_REVEAL_ORDER,
)
from generators.layout.gcdp.testing import open_residuals, tiny_gcdp_pipeline

PROMPTS = ["a red circle on the left and a blue square on the right", "a green star at the top"]
MASK = 8  # the tiny pipeline's 8 classes: id 8 is [MASK]


def gens(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


@pytest.fixture(scope="module")
def pipe():
    pipe = tiny_gcdp_pipeline(seed=0)
    open_residuals(pipe.denoiser)
    return pipe


def _layouts_seen(pipe):
    """Record the (c, L) layout `(B, h, w)` of every denoiser call; returns the list and the hook's handle."""
    seen = []

    def hook(_module, args):
        b = len(PROMPTS)
        seen.append(args[1][b : 2 * b].clone())  # rows [(empty, L)], (c, L), [(c, M)]: guidance 5 here

    return seen, pipe.denoiser.register_forward_pre_hook(hook)


@torch.no_grad()
def _joint_reference(pipe, prompts, steps, generator, scale=5.0, layout_scale=3.0):
    """The joint mode as the pipeline ran before the reveal options: the layout stepped at every timestep of
    the Gaussian scheduler, each masked cell revealed at random."""
    b = len(prompts)
    states = pipe.encode_prompt(prompts, "cpu")
    states = torch.cat([pipe.encode_prompt([""], "cpu").expand_as(states), states])  # (2B, 77, D)
    pipe.scheduler.set_timesteps(steps)
    sched = AbsorbingCategoricalScheduler.from_config(pipe.layout_scheduler.config)
    sched.set_timesteps(timesteps=pipe.scheduler.timesteps)
    latents = torch.stack([torch.randn(4, 16, 16, generator=g) for g in generator])
    latents = latents * pipe.scheduler.init_noise_sigma
    layouts = torch.full((b, 16, 16), MASK)
    masked = layouts.clone()
    for t in pipe.scheduler.timesteps:
        lay_cfg = bool((layouts != MASK).any())
        x = pipe.scheduler.scale_model_input(torch.cat([latents] * (2 + lay_cfg)), t)
        lay = torch.cat([layouts] * 2 + [masked] * lay_cfg)
        text = torch.cat([states, states[-b:]]) if lay_cfg else states
        out = pipe.denoiser(x, lay, t, encoder_hidden_states=text)
        noise = pipe.guide(out.sample, b, True, lay_cfg, scale, layout_scale)
        logits = pipe.guide(out.logits, b, True, False, scale, 1.0)
        latents = pipe.scheduler.step(noise, t, latents).prev_sample
        layouts = sched.step(logits, int(t), layouts, generator=generator).prev_sample
    return latents, layouts


# ------------------------------------------------------------------ the scheduler
def test_confidence_order_reveals_the_most_confident_masked_cells():
    sched = AbsorbingCategoricalScheduler(num_classes=3)
    sched.set_timesteps(4)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, generator=g) * 3
    layout = torch.full((2, 8, 8), 3)
    layout[:, 0, :4] = 1  # already revealed: they stay, and count as neither masked nor revealable
    t, s = int(sched.timesteps[1]), int(sched.timesteps[2])
    out = sched.step(logits, t, layout, generator=g, temperature=0.0, reveal_order="confidence").prev_sample
    assert torch.equal(out[:, 0, :4], layout[:, 0, :4])
    reveal_p = float((sched.mask_ratio(t) - sched.mask_ratio(s)) / sched.mask_ratio(t))
    conf = torch.softmax(logits, 1).amax(1)  # (B, h, w)
    for b in range(2):
        masked = layout[b] == 3
        revealed = masked & (out[b] != 3)
        assert revealed.sum().item() == round(masked.sum().item() * reveal_p) > 0  # the expected count
        assert conf[b][revealed].min() > conf[b][masked & ~revealed].max()  # the most confident ones
        assert torch.equal(out[b][revealed], logits[b].argmax(0)[revealed])  # temperature 0: their argmax


def test_confidence_order_reveals_everything_by_the_last_step_and_random_is_the_default():
    sched = AbsorbingCategoricalScheduler(num_classes=3)
    sched.set_timesteps(5)
    logits = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    layout, hidden = torch.full((2, 8, 8), 3), []
    for t in sched.timesteps:
        before = layout.clone()
        layout = sched.step(logits, int(t), layout, temperature=0.0, reveal_order="confidence").prev_sample
        assert torch.equal(layout[before != 3], before[before != 3])
        hidden.append((layout == 3).sum().item())
    assert hidden[-1] == 0 and hidden == sorted(hidden, reverse=True) and hidden[0] < 128
    t = int(sched.timesteps[1])
    default = sched.step(logits, t, torch.full((2, 8, 8), 3), generator=torch.Generator().manual_seed(2))
    explicit = sched.step(
        logits, t, torch.full((2, 8, 8), 3), generator=torch.Generator().manual_seed(2), reveal_order="random"
    )
    assert torch.equal(default.prev_sample, explicit.prev_sample)
    with pytest.raises(ValueError, match="reveal_order 'best' is not known; use one of random, confidence"):
        sched.step(logits, t, layout, reveal_order="best")


# ------------------------------------------------------------------ the pipeline
def test_random_order_over_all_the_steps_is_the_joint_mode_as_it_was(pipe):
    earlier = dict(reveal_order="random", layout_fraction=1.0, temperature=1.0)  # the defaults before
    out = pipe(PROMPTS, num_inference_steps=4, generator=gens(0, 1), output_type="latent", **earlier)
    latents, layouts = _joint_reference(pipe, PROMPTS, 4, gens(0, 1))
    assert torch.equal(out.layouts, layouts)
    torch.testing.assert_close(out.images, latents, rtol=0, atol=0)
    # the defaults now: the most confident cells first, each its most likely class
    assert (REVEAL_ORDER, LAYOUT_FRACTION, LAYOUT_TEMPERATURE) == ("confidence", 1.0, 0.0)
    now = pipe(PROMPTS, num_inference_steps=4, generator=gens(0, 1), output_type="latent")
    chosen = dict(reveal_order="confidence", layout_fraction=1.0, temperature=0.0)
    again = pipe(PROMPTS, num_inference_steps=4, generator=gens(0, 1), output_type="latent", **chosen)
    assert torch.equal(now.layouts, again.layouts) and not torch.equal(now.layouts, layouts)
    assert GCDPConfig().reveal_order == "confidence" and GCDPConfig().temperature == 0.0


def test_image_to_layout_keeps_the_random_order_by_default(pipe):
    from toyworld.world import ShapesWorld

    assert SEGMENTATION_REVEAL_ORDER == "random"
    images = ShapesWorld(32).batch(seed=0, split="test", start=0, count=2, n_objects=2).images
    kw = dict(image=images, num_inference_steps=4, temperature=0.0)
    seg = pipe(PROMPTS, generator=gens(0, 1), **kw).layouts
    assert torch.equal(seg, pipe(PROMPTS, generator=gens(0, 1), reveal_order="random", **kw).layouts)
    conf = pipe(PROMPTS, generator=gens(0, 1), reveal_order="confidence", **kw).layouts
    assert not torch.equal(seg, conf) and (conf < MASK).all()


@pytest.mark.parametrize("fraction, layout_steps", [(0.3, 3), (0.5, 5), (0.05, 1)])
def test_a_layout_fraction_reveals_the_whole_layout_within_its_steps(pipe, fraction, layout_steps):
    seen, handle = _layouts_seen(pipe)
    out = pipe(PROMPTS, num_inference_steps=10, generator=gens(0, 1), layout_fraction=fraction)
    handle.remove()
    assert len(seen) == 10 and (seen[0] == MASK).all()
    masked = [(lay == MASK).sum().item() for lay in seen]
    assert all(m == 0 for m in masked[layout_steps:])  # no [MASK] after the first f of the steps
    assert all(torch.equal(lay, out.layouts) for lay in seen[layout_steps:])  # and the layout held from there
    assert (out.layouts < MASK).all()
    if layout_steps > 2:
        assert 0 < masked[1] < 512  # revealed over its steps, not all at once


def test_a_layout_fraction_changes_the_joint_output_and_keeps_the_other_modes(pipe):
    full = pipe(PROMPTS, num_inference_steps=4, generator=gens(0, 1), output_type="latent")
    first = pipe(
        PROMPTS, num_inference_steps=4, generator=gens(0, 1), output_type="latent", layout_fraction=0.5
    )
    assert not torch.equal(full.layouts, first.layouts) or not torch.equal(full.images, first.images)
    given = torch.zeros(2, 16, 16, dtype=torch.long)
    given[:, 4:12, 2:8] = 1
    kw = dict(layout=given, num_inference_steps=3, generator=gens(0, 1), output_type="latent")
    torch.testing.assert_close(
        pipe(PROMPTS, **kw).images,
        pipe(
            PROMPTS, **{**kw, "generator": gens(0, 1)}, layout_fraction=0.3, reveal_order="confidence"
        ).images,
        rtol=0,
        atol=0,
    )


def test_confidence_order_in_the_pipeline_reveals_the_argmax_confidence_cells_first(pipe):
    calls, step = [], pipe.layout_scheduler.step

    def recording_step(logits, timestep, sample, **kwargs):
        out = step(logits, timestep, sample, **kwargs)
        calls.append((logits, sample, out.prev_sample, kwargs["reveal_order"]))
        return out

    pipe.layout_scheduler.step = recording_step
    try:
        out = pipe(PROMPTS, num_inference_steps=6, generator=gens(0, 1), reveal_order="confidence")
    finally:
        del pipe.layout_scheduler.step
    assert [c[3] for c in calls] == ["confidence"] * 6 and (out.layouts < MASK).all()
    for logits, before, after, _ in calls[:-1]:
        conf = torch.softmax(logits, 1).amax(1)  # (B, h, w)
        for b in range(len(PROMPTS)):
            masked = before[b] == MASK
            revealed = masked & (after[b] != MASK)
            if revealed.any() and (masked & ~revealed).any():
                assert conf[b][revealed].min() >= conf[b][masked & ~revealed].max()


def test_reveal_options_give_one_line_errors(pipe):
    from pydantic import ValidationError

    from generators.layout.gcdp.evaluate import main

    with pytest.raises(ValueError, match="reveal_order 'best': use one of random, confidence"):
        pipe(PROMPTS, reveal_order="best")
    for bad in (0.0, 1.5, -0.2):
        with pytest.raises(ValueError, match=f"layout_fraction={bad}: give a share of the steps in"):
            pipe(PROMPTS, layout_fraction=bad)
    with pytest.raises(ValidationError, match="layout_fraction"):
        GCDPConfig(layout_fraction=0.0)
    with pytest.raises(ValidationError, match="reveal_order"):
        GCDPConfig(reveal_order="best")
    assert GCDPConfig(reveal_order="confidence", layout_fraction=0.5).layout_fraction == 0.5
    for argv in (["--layout-fraction", "0"], ["--reveal-order", "best"], ["--measures", "boxes"]):
        with pytest.raises(SystemExit):
            main([*argv, "--sd-only"])
