"""Tiny random-weight components built from the real model configs, shrunk.

They exercise the exact code path a GPU user runs with real weights (diffusers' ``get_dummy_components()``
habit): an SD-1.5-shaped ``UNet2DConditionModel`` whose ``cross_attention_dim`` matches a 2-layer
``CLIPTextModel``, an ``AutoencoderKL``, a ``DDIMScheduler``, a ``CLIPTokenizer`` built offline from a
small word-level vocabulary, a tiny ``CLIPModel`` with its processor and a tiny BLIP captioner.

Every builder is deterministic: the weights depend only on ``seed`` and the global RNG is left untouched.
Nothing here touches the network.

Example:
    >>> from workbench.dummy import dummy_sd_pipeline
    >>> pipe = dummy_sd_pipeline()
    >>> out = pipe("a red circle", num_inference_steps=2, output_type="pt")
    >>> tuple(out.images.shape)
    (1, 3, 32, 32)
"""

from __future__ import annotations

import contextlib
import string
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from workbench.runtime import Runtime

# Words of the shapes world and of common prompts; each gets a whole-word BPE token, anything else
# falls back to characters (never to a single unknown token).
DUMMY_WORDS: tuple[str, ...] = (
    # shapes
    "circle", "square", "triangle", "star", "cross", "heart", "hexagon", "diamond", "ring", "shape", "shapes",
    "object", "objects", "emblem", "logo",
    # colours
    "red", "green", "blue", "yellow", "purple", "orange", "white", "black", "gray", "pink", "brown", "cyan",
    # sizes, textures, positions
    "large", "medium", "small", "tiny", "big", "plain", "striped", "dotted", "checkered", "left", "right",
    "top", "bottom", "center", "middle", "above", "below", "next", "near", "corner",
    # glue
    "a", "an", "the", "of", "on", "in", "and", "with", "to", "at", "is", "photo", "picture", "image",
    "painting", "drawing", "background", "scene", "one", "two", "three", "four",
    # common prompt words
    "cat", "dog", "house", "tree", "car", "person", "sky", "water", "flower", "bird",
)  # fmt: skip

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"

# ---------------------------------------------------------------------------------------------- real configs
# The published configs of the real models (the fields that matter), shrunk by the builders below.
SD15_UNET_CONFIG: dict[str, Any] = {
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
SD15_VAE_CONFIG: dict[str, Any] = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 512,
    "scaling_factor": 0.18215,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}
SD15_SCHEDULER_CONFIG: dict[str, Any] = {
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "set_alpha_to_one": False,
    "steps_offset": 1,
}
SD15_TEXT_CONFIG: dict[str, Any] = {
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "projection_dim": 768,
}
CLIP_B32_VISION_CONFIG: dict[str, Any] = {
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "image_size": 224,
    "intermediate_size": 3072,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "patch_size": 32,
    "projection_dim": 512,
}

# The shrunk sizes used throughout the tests.
TINY_HIDDEN = 32
TINY_CHANNELS = (32, 64)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Initialise weights from ``seed`` without disturbing the caller's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _to_runtime(module: torch.nn.Module, runtime: Runtime | None) -> torch.nn.Module:
    module.eval()
    if runtime is not None:
        module.to(device=runtime.device, dtype=runtime.dtype)
    return module


# ---------------------------------------------------------------------------------------------- tokenizers
def build_clip_tokenizer(words: Iterable[str] = DUMMY_WORDS, model_max_length: int = 77):
    """A ``CLIPTokenizer`` whose BPE vocabulary holds every character plus each of ``words`` whole.

    Built offline: the merges spell each word left to right, so a listed word is one token and any
    other word falls back to characters (CLIP's own behaviour for rare words).

    Args:
        words: lower-case words to give a single token each.
        model_max_length: the context length (77 for every Stable Diffusion text encoder).

    Returns:
        `transformers.CLIPTokenizer` with ``len(tokenizer)`` tokens; bos id 0, eos/pad id 1.
    """
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}

    def add(token: str) -> None:
        if token not in vocab:
            vocab[token] = len(vocab)

    add(BOS_TOKEN)
    add(EOS_TOKEN)
    for ch in string.ascii_lowercase + string.digits + string.punctuation:
        add(ch)
        add(ch + "</w>")
    merges: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for word in words:
        word = word.lower()
        if not word or not all(c in string.ascii_lowercase + string.digits for c in word):
            raise ValueError(f"dummy tokenizer words must be non-empty [a-z0-9]+, got {word!r}")
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        current = pieces[0]
        for piece in pieces[1:]:
            pair = (current, piece)
            if pair not in seen:
                seen.add(pair)
                merges.append(pair)
            current = current + piece
            add(current)
    return CLIPTokenizer(
        vocab=vocab,
        merges=merges,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=EOS_TOKEN,
        unk_token=EOS_TOKEN,
        model_max_length=model_max_length,
    )


def dummy_tokenizer(model_max_length: int = 77):
    """The dummy ``CLIPTokenizer`` over :data:`DUMMY_WORDS` (a few hundred tokens)."""
    return build_clip_tokenizer(DUMMY_WORDS, model_max_length=model_max_length)


def build_bert_tokenizer(words: Iterable[str] = DUMMY_WORDS):
    """A word-level ``BertTokenizer`` for the dummy BLIP captioner ([DEC] is the decoder's bos token).

    Returns:
        `transformers.BertTokenizer`; ids: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, [DEC] 5.
    """
    from transformers import BertTokenizer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    tokens = specials + sorted({w.lower() for w in words} | set(string.punctuation))
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = BertTokenizer(vocab=vocab, bos_token="[DEC]")
    return tok


# ---------------------------------------------------------------------------------------------- SD parts
def dummy_text_encoder(tokenizer, seed: int = 0, hidden_size: int = TINY_HIDDEN, num_layers: int = 2):
    """A 2-layer ``CLIPTextModel`` shaped like SD-1.5's, sized to ``tokenizer``.

    Returns:
        `transformers.CLIPTextModel` in eval mode; hidden states ``(B, 77, hidden_size)``.
    """
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        **{
            **SD15_TEXT_CONFIG,
            "hidden_size": hidden_size,
            "intermediate_size": 37,
            "num_attention_heads": 4,
            "num_hidden_layers": num_layers,
            "projection_dim": hidden_size,
            "max_position_embeddings": tokenizer.model_max_length,
            "vocab_size": len(tokenizer),
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        }
    )
    with _seeded(seed):
        return CLIPTextModel(config).eval()


def dummy_unet(seed: int = 0, cross_attention_dim: int = TINY_HIDDEN, sample_size: int = 16):
    """An SD-1.5-shaped ``UNet2DConditionModel`` with two levels of (32, 64) channels.

    Args:
        cross_attention_dim: must equal the text encoder's hidden size.
        sample_size: latent side; the pipeline's default image side is ``sample_size * 2``.

    Returns:
        `diffusers.UNet2DConditionModel` mapping latents ``(B, 4, s, s)`` to noise ``(B, 4, s, s)``.
    """
    from diffusers import UNet2DConditionModel

    config = {
        **SD15_UNET_CONFIG,
        "block_out_channels": list(TINY_CHANNELS),
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
        "layers_per_block": 1,
        "cross_attention_dim": cross_attention_dim,
        "sample_size": sample_size,
    }
    with _seeded(seed):
        return UNet2DConditionModel(**config).eval()


def dummy_vae(seed: int = 0, image_size: int = 32):
    """An SD-1.5-shaped ``AutoencoderKL`` with two levels: images ``(B, 3, H, W)`` <-> latents
    ``(B, 4, H/2, W/2)``."""
    from diffusers import AutoencoderKL

    config = {
        **SD15_VAE_CONFIG,
        "block_out_channels": list(TINY_CHANNELS),
        "down_block_types": ["DownEncoderBlock2D"] * 2,
        "up_block_types": ["UpDecoderBlock2D"] * 2,
        "layers_per_block": 1,
        "sample_size": image_size,
    }
    with _seeded(seed):
        return AutoencoderKL(**config).eval()


def dummy_scheduler():
    """SD-1.5's noise schedule in a ``DDIMScheduler``."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(**SD15_SCHEDULER_CONFIG)


def dummy_sd_components(seed: int = 0, image_size: int = 32) -> dict[str, Any]:
    """The components of a ``StableDiffusionPipeline`` (diffusers' ``get_dummy_components()``).

    Args:
        seed: weight seed (same seed, same weights).
        image_size: default generated image side (a multiple of 8).

    Returns:
        dict with ``unet``, ``vae``, ``text_encoder``, ``tokenizer``, ``scheduler`` and
        ``safety_checker`` / ``feature_extractor`` / ``image_encoder`` set to ``None``.
    """
    if image_size % 8:
        raise ValueError(f"image_size must be a multiple of 8, got {image_size}")
    tokenizer = dummy_tokenizer()
    text_encoder = dummy_text_encoder(tokenizer, seed=seed)
    return {
        "unet": dummy_unet(
            seed=seed, cross_attention_dim=text_encoder.config.hidden_size, sample_size=image_size // 2
        ),
        "vae": dummy_vae(seed=seed, image_size=image_size),
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "scheduler": dummy_scheduler(),
        "safety_checker": None,
        "feature_extractor": None,
        "image_encoder": None,
    }


def dummy_sd_pipeline(
    kind: str = "txt2img", seed: int = 0, runtime: Runtime | None = None, image_size: int = 32
):
    """A random-weight Stable Diffusion pipeline of ``kind`` (``"txt2img"`` or ``"img2img"``) on the
    runtime's device and dtype, progress bar off.

    Returns:
        `diffusers.StableDiffusionPipeline` or `StableDiffusionImg2ImgPipeline`; ``__call__`` with
        ``output_type="pt"`` returns images ``(B, 3, image_size, image_size)`` in [0, 1].
    """
    # deferred: torch, diffusers, transformers (loaded on first use)
    from workbench.loading import sd_pipeline_class

    cls = sd_pipeline_class(kind)
    pipe = cls(**dummy_sd_components(seed=seed, image_size=image_size), requires_safety_checker=False)
    if runtime is not None:
        pipe.to(runtime.device)
        if runtime.dtype != torch.float32:
            pipe.to(dtype=runtime.dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


# ---------------------------------------------------------------------------------------------- CLIP
def dummy_clip_processor(tokenizer=None, image_size: int = 32):
    """A ``CLIPProcessor`` (OpenAI mean/std, resize + centre crop to ``image_size``) around ``tokenizer``."""
    from transformers import CLIPProcessor

    try:  # transformers >= 5 names the PIL backend explicitly (the default one needs torchvision)
        from transformers import CLIPImageProcessorPil as ImageProcessor
    except ImportError:  # pragma: no cover - transformers 4.x
        from transformers import CLIPImageProcessor as ImageProcessor

    image_processor = ImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    return CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer or dummy_tokenizer())


def dummy_clip(seed: int = 0, runtime: Runtime | None = None, image_size: int = 32, patch_size: int = 8):
    """A tiny ViT-B/32-shaped ``CLIPModel`` (2 layers, width 32, projection 16) and its processor.

    Returns:
        ``(model, processor)``: `transformers.CLIPModel` in eval mode taking ``pixel_values``
        ``(B, 3, image_size, image_size)`` (CLIP-normalised) and ``input_ids`` ``(B, T)``;
        `transformers.CLIPProcessor`.
    """
    from transformers import CLIPConfig, CLIPModel

    tokenizer = dummy_tokenizer()
    text_config = {
        **SD15_TEXT_CONFIG,
        "hidden_size": TINY_HIDDEN,
        "intermediate_size": 37,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "projection_dim": 16,
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision_config = {
        **CLIP_B32_VISION_CONFIG,
        "hidden_size": TINY_HIDDEN,
        "intermediate_size": 37,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "image_size": image_size,
        "patch_size": patch_size,
        "projection_dim": 16,
    }
    config = CLIPConfig(text_config=text_config, vision_config=vision_config, projection_dim=16)
    with _seeded(seed):
        model = CLIPModel(config)
    model = _to_runtime(model, runtime)
    return model, dummy_clip_processor(tokenizer, image_size=image_size)


# ---------------------------------------------------------------------------------------------- captioner
def dummy_captioner(seed: int = 0, runtime: Runtime | None = None, image_size: int = 32):
    """A tiny ``BlipForConditionalGeneration`` (2+2 layers, width 32) and its ``BlipProcessor``.

    Returns:
        ``(model, processor)``; ``model.generate(pixel_values=(B, 3, image_size, image_size))`` gives
        token ids that ``processor.batch_decode(..., skip_special_tokens=True)`` turns into captions.
    """
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipProcessor

    try:
        from transformers import BlipImageProcessorPil as ImageProcessor
    except ImportError:  # pragma: no cover - transformers 4.x
        from transformers import BlipImageProcessor as ImageProcessor

    tokenizer = build_bert_tokenizer()
    text_config = {
        "vocab_size": len(tokenizer),
        "hidden_size": TINY_HIDDEN,
        "encoder_hidden_size": TINY_HIDDEN,
        "intermediate_size": 37,
        "projection_dim": TINY_HIDDEN,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 40,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.sep_token_id,
        "sep_token_id": tokenizer.sep_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision_config = {
        "hidden_size": TINY_HIDDEN,
        "intermediate_size": 37,
        "projection_dim": TINY_HIDDEN,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": image_size,
        "patch_size": 8,
        "initializer_range": 0.02,
    }
    config = BlipConfig(text_config=text_config, vision_config=vision_config, projection_dim=TINY_HIDDEN)
    with _seeded(seed):
        model = BlipForConditionalGeneration(config)
    model = _to_runtime(model, runtime)
    image_processor = ImageProcessor(size={"height": image_size, "width": image_size})
    return model, BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)


# ---------------------------------------------------------------------------------------------- on disk
def save_dummy_sd(path: str | Path, seed: int = 0, image_size: int = 32) -> Path:
    """Write a dummy SD pipeline folder (``save_pretrained``, safetensors) loadable with
    ``StableDiffusionPipeline.from_pretrained(path)`` or :func:`workbench.loading.load_sd_pipeline`."""
    pipe = dummy_sd_pipeline(seed=seed, image_size=image_size)
    path = Path(path)
    pipe.save_pretrained(path, safe_serialization=True)
    return path


def save_dummy_clip(path: str | Path, seed: int = 0) -> Path:
    """Write a dummy CLIP folder (model + processor) loadable with ``CLIPModel.from_pretrained(path)``."""
    model, processor = dummy_clip(seed=seed)
    path = Path(path)
    model.save_pretrained(path, safe_serialization=True)
    processor.save_pretrained(path)
    return path


def save_dummy_captioner(path: str | Path, seed: int = 0) -> Path:
    """Write a dummy BLIP captioner folder (model + processor)."""
    model, processor = dummy_captioner(seed=seed)
    path = Path(path)
    model.save_pretrained(path, safe_serialization=True)
    processor.save_pretrained(path)
    return path
