"""The random-weight components build from the real configs, run, and save / load like real models."""

from __future__ import annotations

import torch

from workbench.dummy import (
    DUMMY_WORDS,
    build_clip_tokenizer,
    dummy_captioner,
    dummy_clip,
    dummy_sd_components,
    dummy_sd_pipeline,
)


def test_tokenizer_gives_whole_words_and_falls_back_to_characters():
    tok = build_clip_tokenizer(["red", "circle"])
    ids = tok("a red circle zq").input_ids
    tokens = tok.convert_ids_to_tokens(ids)
    assert tokens == ["<|startoftext|>", "a</w>", "red</w>", "circle</w>", "z", "q</w>", "<|endoftext|>"]
    assert tok.decode(ids, skip_special_tokens=True) == "a red circle zq"
    full = build_clip_tokenizer(DUMMY_WORDS)
    assert len(full) > 100  # passes the loader's tiny-vocabulary check


def test_components_match_each_other():
    c = dummy_sd_components()
    assert c["unet"].config.cross_attention_dim == c["text_encoder"].config.hidden_size
    assert c["text_encoder"].config.vocab_size == len(c["tokenizer"])
    assert c["unet"].config.in_channels == c["vae"].config.latent_channels == 4
    assert not c["unet"].training and not c["text_encoder"].training


def test_pipeline_is_deterministic_and_seed_dependent(runtime):
    pipe = dummy_sd_pipeline(runtime=runtime)
    kwargs = {"num_inference_steps": 2, "output_type": "pt", "guidance_scale": 5.0}
    a = pipe(["a red circle"], generator=runtime.generator("image", 0), **kwargs).images
    b = dummy_sd_pipeline(runtime=runtime)(
        ["a red circle"], generator=runtime.generator("image", 0), **kwargs
    ).images
    c = pipe(["a red circle"], generator=runtime.generator("image", 1), **kwargs).images
    assert a.shape == (1, 3, 32, 32) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_img2img_kind(runtime):
    pipe = dummy_sd_pipeline("img2img", runtime=runtime)
    init = torch.rand(1, 3, 32, 32, generator=runtime.generator("init"))
    out = pipe(
        "a cat",
        image=init,
        strength=0.5,
        num_inference_steps=2,
        output_type="pt",
        generator=runtime.generator(0),
    )
    assert out.images.shape == (1, 3, 32, 32)


def test_clip_scores_images_against_prompts(runtime):
    from PIL import Image

    model, processor = dummy_clip(runtime=runtime)
    inputs = processor(
        text=["a red circle", "a blue square"],
        images=[Image.new("RGB", (40, 40), "red")],
        return_tensors="pt",
        padding=True,
    )
    out = model(**inputs)
    assert out.logits_per_image.shape == (1, 2)
    assert out.image_embeds.shape == (1, 16)


def test_captioner_generates_text(runtime):
    from PIL import Image

    model, processor = dummy_captioner(runtime=runtime)
    inputs = processor(images=[Image.new("RGB", (32, 32), "blue")] * 2, return_tensors="pt")
    ids = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    captions = processor.batch_decode(ids, skip_special_tokens=True)
    assert len(captions) == 2 and all(isinstance(c, str) for c in captions)
    assert ids.shape[0] == 2 and ids.shape[1] <= 1 + 5
