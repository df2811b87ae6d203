"""MultiConceptPipeline: stock equivalence without MRSA, processors restored, one UNet call per step."""

from __future__ import annotations

import pytest
import torch

from generators.multiconcept import MultiConceptPipeline

from .conftest import PROMPT, gen

STEPS = 2


def test_without_mrsa_it_is_the_stock_pipeline_bit_for_bit(sd_pipe, mc_pipe, concepts):
    stock = sd_pipe(
        PROMPT, num_inference_steps=STEPS, generator=gen(3, 2), num_images_per_prompt=2, output_type="pt"
    ).images
    off = mc_pipe(
        PROMPT,
        concepts,
        mrsa=False,
        num_inference_steps=STEPS,
        generator=gen(3, 2),
        num_images_per_prompt=2,
        output_type="pt",
    )
    none = mc_pipe(
        PROMPT,
        concepts,
        layers=[],
        num_inference_steps=STEPS,
        generator=gen(3, 2),
        num_images_per_prompt=2,
        output_type="pt",
    )
    assert torch.equal(off.images, stock) and torch.equal(none.images, stock)
    assert off.layers == [] and none.layers == []
    on = mc_pipe(
        PROMPT,
        concepts,
        num_inference_steps=STEPS,
        generator=gen(3, 2),
        num_images_per_prompt=2,
        output_type="pt",
    )
    assert (on.images - stock).abs().max() > 1e-4  # MRSA changes the images
    assert on.layers == [
        "up_blocks.1.attentions.0.transformer_blocks.0.attn1",
        "up_blocks.1.attentions.1.transformer_blocks.0.attn1",
    ]
    # MRSA outside the step range: the stock pipeline again
    late = mc_pipe(
        PROMPT,
        concepts,
        start_step=STEPS,
        num_inference_steps=STEPS,
        generator=gen(3, 2),
        num_images_per_prompt=2,
        output_type="pt",
    )
    assert torch.equal(late.images, stock)


def test_processors_are_restored_after_the_call_and_after_an_error(mc_pipe, concepts):
    before = dict(mc_pipe.unet.attn_processors)
    types = [type(p) for p in before.values()]
    seen: list[set[str]] = []

    def spy(pipe, i, t, kw):
        seen.append({type(p).__name__ for p in pipe.unet.attn_processors.values()})
        return kw

    mc_pipe(PROMPT, concepts, num_inference_steps=STEPS, output_type="pt", callback_on_step_end=spy)
    assert all("ReferenceAttnProcessor" in s for s in seen)  # installed during the loop
    assert [type(p) for p in mc_pipe.unet.attn_processors.values()] == types
    assert all(mc_pipe.unet.attn_processors[k] is p for k, p in before.items())

    def boom(pipe, i, t, kw):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        mc_pipe(PROMPT, concepts, num_inference_steps=STEPS, output_type="pt", callback_on_step_end=boom)
    assert all(mc_pipe.unet.attn_processors[k] is p for k, p in before.items())


def test_references_run_once_per_step_for_the_whole_batch(mc_pipe, concepts):
    rows: list[int] = []
    hook = mc_pipe.unet.register_forward_pre_hook(lambda m, args: rows.append(args[0].shape[0]))
    try:
        mc_pipe(PROMPT, concepts, num_inference_steps=STEPS, num_images_per_prompt=4, output_type="pt")
        assert rows == [2 + 2 * 4] * STEPS  # one UNet call per step: 2 references (cond) + 4 images x CFG
        rows.clear()
        mc_pipe(
            PROMPT,
            concepts,
            style_fidelity=0.5,
            num_inference_steps=STEPS,
            num_images_per_prompt=4,
            output_type="pt",
        )
        assert rows == [2 * 2 + 2 * 4] * STEPS  # style fidelity < 1: references in both branches
        rows.clear()
        mc_pipe(
            PROMPT,
            concepts,
            guidance_scale=1.0,
            num_inference_steps=STEPS,
            num_images_per_prompt=4,
            output_type="pt",
        )
        assert rows == [2 + 4] * STEPS  # no guidance: conditional rows only
    finally:
        hook.remove()


def test_deterministic_and_batch_invariant(mc_pipe, concepts):
    kw = {"num_inference_steps": STEPS, "output_type": "pt"}
    a = mc_pipe(PROMPT, concepts, generator=gen(5, 3), num_images_per_prompt=3, **kw).images
    b = mc_pipe(PROMPT, concepts, generator=gen(5, 3), num_images_per_prompt=3, **kw).images
    assert torch.equal(a, b)
    single = mc_pipe(PROMPT, concepts, generator=gen(6, 1), **kw).images  # image 1 of the batch, alone
    assert torch.allclose(single[0], a[1], atol=1e-4)
    other = mc_pipe(
        PROMPT, concepts, generator=gen(5, 3), num_images_per_prompt=3, reference_seed=1, **kw
    ).images
    assert not torch.equal(other, a)


def test_mask_weight_and_masks_matter(mc_pipe, concepts):
    from generators.multiconcept import Concept

    def run(cs, weights):
        return mc_pipe(
            PROMPT, cs, mask_weights=weights, num_inference_steps=STEPS, output_type="pt", generator=gen(0)
        ).images

    base = run(concepts, 3.0)
    assert not torch.equal(base, run(concepts, [0.0, 3.0]))
    assert not torch.equal(
        base, run([Concept(c.image, c.prompt) for c in concepts], 3.0)
    )  # no masks: whole images


def test_from_pipe_shares_without_casting(sd_pipe):
    from workbench.dummy import dummy_sd_pipeline
    from workbench.runtime import Runtime

    mc = MultiConceptPipeline.from_pipe(sd_pipe)
    assert mc.unet is sd_pipe.unet and mc.vae is sd_pipe.vae and mc.text_encoder is sd_pipe.text_encoder
    bf16 = dummy_sd_pipeline(runtime=Runtime(seed=0, precision="bf16", device="cpu"))
    shared = MultiConceptPipeline.from_pipe(
        bf16
    )  # diffusers' own from_pipe would cast the shared UNet to fp32
    assert shared.unet is bf16.unet and bf16.unet.dtype == torch.bfloat16


def test_mask_resize_rule_reaches_the_processors(mc_pipe, concepts):
    def run(rule):
        return mc_pipe(
            PROMPT, concepts, mask_resize=rule, num_inference_steps=STEPS, output_type="pt", generator=gen(0)
        ).images

    coverage = run("coverage")
    assert torch.equal(
        coverage,
        mc_pipe(PROMPT, concepts, num_inference_steps=STEPS, output_type="pt", generator=gen(0)).images,
    )
    assert not torch.equal(coverage, run("nearest"))
    with pytest.raises(ValueError, match="mask_resize must be one of coverage, nearest"):
        run("bilinear")


def test_mask_balance_reaches_the_processors_and_is_off_by_default(mc_pipe, concepts):
    from generators.multiconcept.config import FreeCustomSection

    def run(**kw):
        return mc_pipe(
            PROMPT, concepts, num_inference_steps=STEPS, output_type="pt", generator=gen(0), **kw
        ).images

    plain = run()
    assert torch.equal(plain, run(mask_balance=False))
    assert not torch.equal(
        plain, run(mask_balance=True)
    )  # the toy concepts' masks keep different token counts
    assert FreeCustomSection().mask_balance is False and FreeCustomSection(mask_balance=True).mask_balance


def test_freecustom_config_offers_the_authors_rule():
    from pydantic import ValidationError

    from generators.multiconcept.config import FreeCustomSection

    assert FreeCustomSection().mask_resize == "coverage"
    assert FreeCustomSection(mask_resize="nearest").mask_resize == "nearest"
    with pytest.raises(ValidationError):
        FreeCustomSection(mask_resize="bilinear")


def test_binding_is_hard_by_default_and_off_is_plain_mrsa(mc_pipe, concepts):
    from generators.multiconcept.config import FreeCustomSection

    before = dict(mc_pipe.unet.attn_processors)

    def run(**kw):
        return mc_pipe(
            PROMPT,
            concepts,
            num_inference_steps=STEPS,
            output_type="pt",
            generator=gen(0, 2),
            num_images_per_prompt=2,
            **kw,
        ).images

    hard = run()
    assert torch.equal(hard, run(bind="hard"))
    plain, soft = run(bind="off"), run(bind="soft")
    assert (hard - plain).abs().max() > 1e-4 and (soft - plain).abs().max() > 1e-5
    assert not torch.equal(soft, run(bind="soft", bind_strength=4.0))
    assert all(mc_pipe.unet.attn_processors[k] is p for k, p in before.items())  # capture processors removed
    assert FreeCustomSection().bind == "hard" and FreeCustomSection(bind="off").bind == "off"


def test_binding_settings_fail_with_one_line(mc_pipe, concepts):
    from pydantic import ValidationError

    from generators.multiconcept.config import FreeCustomSection

    def run(prompt=PROMPT, **kw):
        return mc_pipe(prompt, concepts, num_inference_steps=1, output_type="pt", **kw)

    with pytest.raises(ValueError, match=r"^bind must be one of off, soft, hard, got 'strict'$"):
        run(bind="strict")
    with pytest.raises(ValueError, match=r"^bind_strength must be a finite number > 0, got -1.0$"):
        run(bind="soft", bind_strength=-1.0)
    with pytest.raises(ValidationError):
        FreeCustomSection(bind="strict")
    with pytest.raises(ValidationError):
        FreeCustomSection(bind_strength=0.0)


def test_a_prompt_naming_one_concept_runs_plain_mrsa_with_a_warning(mc_pipe, concepts, caplog):
    def run(**kw):
        return mc_pipe("a large red circle", concepts, num_inference_steps=STEPS, output_type="pt",
                       generator=gen(0), **kw).images  # fmt: skip

    with caplog.at_level("WARNING"):
        hard = run(bind="hard")
    assert torch.equal(hard, run(bind="off"))
    assert "names fewer than two of the concepts ('a large blue star' not found)" in caplog.text
