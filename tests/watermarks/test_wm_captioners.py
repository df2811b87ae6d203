"""The real captioner code path: tiny random-weight BLIP and KOSMOS-2 (real architectures, shrunk
configs) feeding a tiny SD img2img pipeline, end to end."""

from __future__ import annotations

import pytest
import torch

from attacks.image import AttackModels
from attacks.paraphrase import Kosmos2Captioner, TransformersCaptioner, VisualParaphrase

from .conftest import generators

KOSMOS_WORDS = ["an", "image", "of", "a", "red", "blue", "circle", "square", "on", "the", "left", "right"]


def tiny_kosmos2():
    """A shrunk ``Kosmos2ForConditionalGeneration`` with a real ``Kosmos2Processor`` (offline vocabulary)."""
    from transformers import (
        Kosmos2Config,
        Kosmos2ForConditionalGeneration,
        Kosmos2Processor,
        XLMRobertaTokenizer,
    )

    try:
        from transformers import CLIPImageProcessorPil as ImageProcessor
    except ImportError:  # pragma: no cover - transformers 4.x
        from transformers import CLIPImageProcessor as ImageProcessor

    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("\u2581" + w, -1.0) for w in KOSMOS_WORDS] + [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    vocab += [("<mask>", 0.0)]
    tokenizer = XLMRobertaTokenizer(vocab=vocab)
    image_processor = ImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = Kosmos2Processor(image_processor, tokenizer, num_patch_index_tokens=16)
    config = Kosmos2Config(
        text_config={
            "vocab_size": len(processor.tokenizer),
            "embed_dim": 32,
            "layers": 2,
            "ffn_dim": 37,
            "attention_heads": 4,
            "max_position_embeddings": 128,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
        },
        latent_query_num=64,  # the processor reserves 64 image tokens, as for the real model
    )
    torch.manual_seed(0)
    return Kosmos2ForConditionalGeneration(config).eval(), processor


def test_blip_captioner_batches_and_decodes():
    from workbench.dummy import dummy_captioner

    model, processor = dummy_captioner()
    captioner = TransformersCaptioner(model, processor, max_new_tokens=6)
    images = torch.rand(3, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    captions = captioner.caption(images)
    assert len(captions) == 3 and all(isinstance(c, str) and c for c in captions)
    assert captioner.caption(images) == captions  # greedy decoding is deterministic


def test_kosmos2_captioner_strips_grounding_tags():
    model, processor = tiny_kosmos2()
    captioner = Kosmos2Captioner(model, processor, max_new_tokens=8)
    captions = captioner.caption(torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(1)))
    assert len(captions) == 2
    for caption in captions:
        assert "<grounding>" not in caption and "<phrase>" not in caption and "<patch_index" not in caption


@pytest.mark.parametrize("which", ["blip", "kosmos2"])
def test_real_path_paraphrase_end_to_end(which, img2img_pipe):
    if which == "blip":
        from workbench.dummy import dummy_captioner

        captioner = TransformersCaptioner(*dummy_captioner(), max_new_tokens=6)
    else:
        captioner = Kosmos2Captioner(*tiny_kosmos2(), max_new_tokens=6)
    models = AttackModels(img2img={"sd": img2img_pipe}, captioners={which: captioner})
    attack = VisualParaphrase(
        strength=0.5, guidance_scale=5.0, num_inference_steps=4, model="sd", captioner=which, models=models
    )
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    out = attack(images, generators(2))
    assert out.shape == images.shape and len(attack.last_captions) == 2
    assert float((out - images).abs().mean()) > 0.01


def test_toy_captioner_preset_names_all_four_objects():
    """A four-object toy caption runs to 38 tokens: the toy preset's 48-token limit keeps the fourth
    object, a 30-token limit (what a hub id or a folder gets) cuts it off."""
    from attacks.paraphrase.captioners import load_captioner
    from toyworld.presets import MODELS_DIR
    from toyworld.world import ShapesWorld, parse_caption

    torch.set_num_threads(1)
    toy = load_captioner("toy")
    folder = load_captioner(str(MODELS_DIR / "captioner"))
    assert (toy.max_new_tokens, folder.max_new_tokens) == (48, 30)
    images = ShapesWorld(64).batch(11, "test", 0, 8, n_objects=4).images

    def whole(caption: str) -> bool:  # four objects, each with its position
        objects = parse_caption(caption)
        return len(objects) == 4 and all(o.position is not None for o in objects)

    assert sum(map(whole, toy.caption(images))) >= 6
    assert not any(map(whole, folder.caption(images)))
