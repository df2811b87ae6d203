"""Tiny random-weight CLIP / SigLIP / VAE built from configs (no download), for the masterprints tests."""

from __future__ import annotations

import torch

PROMPTS = ["a red circle", "a blue square", "a green star", "a yellow cross"]
WORDS = [
    "a",
    "an",
    "the",
    "photo",
    "of",
    "red",
    "green",
    "blue",
    "yellow",
    "circle",
    "square",
    "star",
    "cross",
    "large",
    "small",
    "on",
    "left",
    "right",
]


def word_tokenizer(max_length: int = 16):
    """A word-level tokenizer with CLIP's special tokens (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<|startoftext|>": 2, "<|endoftext|>": 3}
    for w in WORDS:
        vocab[w] = len(vocab)
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", 2), ("<|endoftext|>", 3)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tk,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        model_max_length=max_length,
    )


def tiny_clip(
    seed: int = 0,
    image_size: int = 32,
    patch: int = 8,
    hidden: int = 32,
    layers: int = 2,
    max_length: int = 16,
):
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(seed)
    text = dict(
        vocab_size=len(WORDS) + 4,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        max_position_embeddings=max_length,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
    )
    vision = dict(
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=patch,
    )
    return CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).eval()


def tiny_siglip(seed: int = 0, image_size: int = 32, max_length: int = 16):
    from transformers import SiglipConfig, SiglipModel

    torch.manual_seed(seed)
    text = dict(
        vocab_size=len(WORDS) + 4,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=max_length,
        pad_token_id=0,
        eos_token_id=3,
        bos_token_id=2,
    )
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=8,
    )
    return SiglipModel(SiglipConfig(text_config=text, vision_config=vision)).eval()


def tiny_vae(seed: int = 0):
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=4,
        layers_per_block=1,
        sample_size=32,
    ).eval()


def hub_shaped_clip(seed: int = 0, width: int = 64):
    """OpenAI ViT-B/32's configuration (224 px, 32 px patches, quick_gelu, 77 tokens) with fewer, narrower
    layers, random weights; and its processor. Returns ``(model, tokenizer, image_processor)``."""
    from transformers import CLIPConfig, CLIPModel

    from workbench.dummy import (
        CLIP_B32_VISION_CONFIG,
        SD15_TEXT_CONFIG,
        dummy_clip_processor,
        dummy_tokenizer,
    )

    tok = dummy_tokenizer()
    shrink = {
        "hidden_size": width,
        "intermediate_size": 2 * width,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "projection_dim": 32,
    }
    text = {
        **SD15_TEXT_CONFIG,
        **shrink,
        "vocab_size": len(tok),
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
    }
    vision = {**CLIP_B32_VISION_CONFIG, **shrink}
    torch.manual_seed(seed)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=32)).eval()
    return model, tok, dummy_clip_processor(tok, image_size=224).image_processor


def hub_shaped_vae(seed: int = 0):
    """Stable Diffusion 1.5's VAE configuration (four levels, 4 latent channels, scaling 0.18215) with
    narrower blocks and one layer per block, random weights: 224 px <-> 4 x 28 x 28."""
    from diffusers import AutoencoderKL

    from workbench.dummy import SD15_VAE_CONFIG

    torch.manual_seed(seed)
    return AutoencoderKL(
        **{
            **SD15_VAE_CONFIG,
            "block_out_channels": [32, 32, 64, 64],
            "layers_per_block": 1,
            "sample_size": 224,
        }
    ).eval()
