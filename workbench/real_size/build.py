"""Builders of the real-size random-weight models (see the package docstring).

Two ways, both deterministic in ``seed``:

- in memory (``real_sd_pipeline``, ``real_clip``, ``real_captioner``), on any device: what the GPU suite
  does, since building on the GPU takes seconds;
- on disk (``save_real_sd``, ``save_real_clip``, ``save_real_captioner``): ``save_pretrained`` in
  safetensors, then loaded with :mod:`workbench.loading` exactly as a downloaded model is (what the CPU
  real-size runs do; SD-1.5 is 4.3 GB in fp32).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from workbench.dummy import build_bert_tokenizer, dummy_clip_processor, dummy_tokenizer

HERE = Path(__file__).resolve().parent
REAL_MODELS: dict[str, str] = {
    "sd15": "sd15.json",
    "sd21-base": "sd21_base.json",
    "clip-l14": "clip_vit_l14.json",
    "blip-base": "blip_base.json",
}
SD_MODELS = ("sd15", "sd21-base")


def load_real_config(name: str) -> dict[str, Any]:
    """The published config of ``name`` (one of :data:`REAL_MODELS`), keys starting with ``_`` kept."""
    if name not in REAL_MODELS:
        raise ValueError(f"unknown real-size model {name!r}; known: {', '.join(REAL_MODELS)}")
    return json.loads((HERE / REAL_MODELS[name]).read_text())


def _fields(config: dict[str, Any]) -> dict[str, Any]:
    """The config without its ``_``-prefixed notes."""
    return {k: v for k, v in config.items() if not k.startswith("_")}


@contextlib.contextmanager
def _building(seed: int, device: str | torch.device) -> Iterator[None]:
    """Weights drawn from ``seed`` directly on ``device``; the CPU RNG is restored afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.device(device):
            yield


def real_sd_components(
    name: str = "sd15", seed: int = 0, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> dict[str, Any]:
    """The components of a real-size ``StableDiffusionPipeline`` with random weights.

    Args:
        name: ``"sd15"`` or ``"sd21-base"``.
        seed: weight seed.
        device, dtype: where the weights are drawn and their precision.

    Returns:
        dict of ``unet``, ``vae``, ``text_encoder``, ``tokenizer``, ``scheduler`` and ``None`` for
        ``safety_checker`` / ``feature_extractor`` / ``image_encoder``.
    """
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    if name not in SD_MODELS:
        raise ValueError(f"{name!r} is not a Stable Diffusion model; one of {', '.join(SD_MODELS)}")
    config = load_real_config(name)
    tokenizer = dummy_tokenizer()
    text_config = CLIPTextConfig(
        **_fields(config["text_encoder"]),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with _building(seed, device):
        unet = UNet2DConditionModel(**_fields(config["unet"]))
        vae = AutoencoderKL(**_fields(config["vae"]))
        text_encoder = CLIPTextModel(text_config)
    return {
        "unet": unet.to(dtype=dtype).eval(),
        "vae": vae.to(dtype=dtype).eval(),
        "text_encoder": text_encoder.to(dtype=dtype).eval(),
        "tokenizer": tokenizer,
        "scheduler": DDIMScheduler(**_fields(config["scheduler"])),
        "safety_checker": None,
        "feature_extractor": None,
        "image_encoder": None,
    }


def real_sd_pipeline(
    name: str = "sd15",
    kind: str = "txt2img",
    seed: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Any:
    """A real-size random-weight pipeline of ``kind`` (``txt2img``, ``img2img``), built in memory."""
    # deferred: torch, diffusers, transformers (loaded on first use)
    from workbench.loading import sd_pipeline_class

    cls = sd_pipeline_class(kind)
    pipe = cls(
        **real_sd_components(name, seed=seed, device=device, dtype=dtype), requires_safety_checker=False
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def real_clip(
    seed: int = 0, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[Any, Any]:
    """CLIP ViT-L/14 with random weights and its processor (224 px, OpenAI mean / std)."""
    from transformers import CLIPConfig, CLIPModel

    config = _fields(load_real_config("clip-l14"))
    tokenizer = dummy_tokenizer()
    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    clip_config = CLIPConfig(
        text_config={**config["text_config"], **ids},
        vision_config=config["vision_config"],
        projection_dim=config["projection_dim"],
    )
    with _building(seed, device):
        model = CLIPModel(clip_config)
    image_size = config["vision_config"]["image_size"]
    return model.to(dtype=dtype).eval(), dummy_clip_processor(tokenizer, image_size=image_size)


def real_captioner(
    seed: int = 0, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> tuple[Any, Any]:
    """BLIP-base captioner (ViT-B/16 at 384 px, 12-layer BERT decoder) with random weights and its processor."""
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipProcessor

    try:
        from transformers import BlipImageProcessorPil as ImageProcessor
    except ImportError:  # pragma: no cover - transformers 4.x
        from transformers import BlipImageProcessor as ImageProcessor

    config = _fields(load_real_config("blip-base"))
    tokenizer = build_bert_tokenizer()
    text_config = {
        **config["text_config"],
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.sep_token_id,
        "sep_token_id": tokenizer.sep_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    blip_config = BlipConfig(
        text_config=text_config,
        vision_config=config["vision_config"],
        projection_dim=config["projection_dim"],
    )
    with _building(seed, device):
        model = BlipForConditionalGeneration(blip_config)
    side = config["vision_config"]["image_size"]
    processor = BlipProcessor(
        image_processor=ImageProcessor(size={"height": side, "width": side}), tokenizer=tokenizer
    )
    return model.to(dtype=dtype).eval(), processor


def save_real_sd(path: str | Path, name: str = "sd15", seed: int = 0) -> Path:
    """Write a real-size SD pipeline folder (safetensors, fp32) that
    :func:`workbench.loading.load_sd_pipeline` loads."""
    path = Path(path)
    real_sd_pipeline(name, seed=seed).save_pretrained(path, safe_serialization=True)
    return path


def _save_pair(path: str | Path, model: Any, processor: Any) -> Path:
    path = Path(path)
    model.save_pretrained(path, safe_serialization=True)
    processor.save_pretrained(path)
    return path


def save_real_clip(path: str | Path, seed: int = 0) -> Path:
    """Write the CLIP ViT-L/14 folder (model + processor) that :func:`workbench.loading.load_clip` loads."""
    return _save_pair(path, *real_clip(seed=seed))


def save_real_captioner(path: str | Path, seed: int = 0) -> Path:
    """Write the BLIP-base folder (model + processor) that :func:`workbench.loading.load_captioner` loads."""
    return _save_pair(path, *real_captioner(seed=seed))


def save_real_model(name: str, path: str | Path, seed: int = 0) -> Path:
    """Write real-size model ``name`` (one of :data:`REAL_MODELS`) to ``path``."""
    if name in SD_MODELS:
        return save_real_sd(path, name, seed=seed)
    if name == "clip-l14":
        return save_real_clip(path, seed=seed)
    if name == "blip-base":
        return save_real_captioner(path, seed=seed)
    raise ValueError(f"unknown real-size model {name!r}; known: {', '.join(REAL_MODELS)}")
