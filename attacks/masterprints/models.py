"""Loading the models of a mining run: the scorer under attack, a second scorer for transfer, a VAE.

Names are the workbench's: a preset (``toy``, ``clip-b32``, ``clip-l14``, ``sd15``), a hub id, a local
folder, or ``dummy`` (random weights from the real configs, shrunk: for tests and smoke runs).
"""

from __future__ import annotations

import logging
from typing import Literal

from toyworld.presets import MODELS_DIR
from workbench.dummy import dummy_clip, dummy_vae
from workbench.loading import ModelNotAvailableError, check_weights, presets, resolve_model
from workbench.runtime import Runtime

from .scorers import CLIPScorer, Scorer, SigLIPScorer

logger = logging.getLogger(__name__)

DUMMY = "dummy"


def load_scorer(
    name: str, runtime: Runtime, kind: Literal["clip", "siglip"] = "clip", seed: int = 0
) -> Scorer:
    """A :class:`Scorer` for model ``name``.

    Args:
        name: preset, hub id, local folder, or ``"dummy"`` (a tiny random-weight CLIP from ``seed``).
        runtime: device and dtype.
        kind: ``"clip"`` (cosine scores) or ``"siglip"`` (sigmoid scores; a ``SiglipModel`` folder, or a
            CLIP scored the SigLIP way when ``name`` is ``"dummy"``).
        seed: the seed of a dummy model.

    Raises:
        workbench.loading.ModelNotAvailableError: the model is not available here (the message says how to get it).
    """
    if name == DUMMY:
        model, processor = dummy_clip(seed=seed, runtime=runtime)
        cls = SigLIPScorer if kind == "siglip" else CLIPScorer
        return cls(model, processor.tokenizer, processor.image_processor, name=f"dummy-{kind}-s{seed}")
    if kind == "clip":
        # deferred: torch, diffusers, transformers (loaded on first use)
        from workbench.loading import load_clip

        model, processor = load_clip(name, runtime)
        return CLIPScorer(model, processor.tokenizer, processor.image_processor, name=name)
    return SigLIPScorer(*_load_siglip(name, runtime), name=name)


def _load_siglip(name: str, runtime: Runtime):
    from transformers import AutoProcessor, SiglipModel

    resolved = resolve_model(name)
    if not resolved.available:
        raise ModelNotAvailableError(f"cannot load SigLIP model {name!r}: {resolved.reason}")
    where = str(resolved.local_path or resolved.source)
    local = {"local_files_only": True} if resolved.local_path is not None else {}
    if resolved.local_path is not None:
        check_weights(resolved.local_path, name, allow_pickle=False)
    model = (
        SiglipModel.from_pretrained(where, use_safetensors=True, **local)
        .to(runtime.device, runtime.dtype)
        .eval()
    )
    processor = AutoProcessor.from_pretrained(where, **local)
    return model, processor.tokenizer, processor.image_processor


def load_vae(name: str, runtime: Runtime, seed: int = 0, image_size: int = 32):
    """The ``AutoencoderKL`` of a Stable Diffusion model (its ``vae/`` sub-folder) or of a VAE folder.

    Args:
        name: ``toy`` (the toy SD's VAE, or the standalone toy VAE), ``sd15``, a hub id, a local folder, or ``"dummy"`` (an
            SD-1.5-shaped random-weight VAE, two levels).
        runtime: device and dtype.
    """
    from diffusers import AutoencoderKL

    if name == DUMMY:
        return _placed(dummy_vae(seed=seed, image_size=image_size), runtime)

    if name == "toy":  # the toy SD's VAE, or the standalone toy VAE it is built from (before the SD exists)
        for folder in (MODELS_DIR / "sd" / "vae", MODELS_DIR / "vae"):
            if any(folder.glob("*.safetensors")):
                vae = AutoencoderKL.from_pretrained(
                    str(folder), use_safetensors=True, local_files_only=True, torch_dtype=runtime.dtype
                )
                logger.info("loaded the toy VAE from %s", folder)
                return _placed(vae, runtime)
    resolved = resolve_model(name, kind="sd" if name in presets() else None)
    if not resolved.available:
        raise ModelNotAvailableError(f"cannot load the VAE of {name!r}: {resolved.reason}")
    local = resolved.local_path
    if local is None:  # online hub id, not cached yet
        vae = AutoencoderKL.from_pretrained(
            resolved.source, subfolder="vae", use_safetensors=True, torch_dtype=runtime.dtype
        )
    else:
        folder = local / "vae" if (local / "vae").is_dir() else local
        check_weights(folder, name, allow_pickle=False)
        vae = AutoencoderKL.from_pretrained(
            str(folder), use_safetensors=True, local_files_only=True, torch_dtype=runtime.dtype
        )
    logger.info("loaded the VAE of %r", name)
    return _placed(vae, runtime)


def _placed(vae, runtime: Runtime):
    """``vae`` on the runtime's device and dtype, in eval mode (dtype cast only when it differs)."""
    vae = vae.to(runtime.device)
    if next(vae.parameters()).dtype != runtime.dtype:
        vae = vae.to(dtype=runtime.dtype)
    return vae.eval()
