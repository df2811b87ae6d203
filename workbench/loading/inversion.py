"""Which encoder inverts a pipeline's images to its latents: the pipeline's own VAE, or an inversion
encoder (an encoder fine-tuned so that encoding a decoded latent gives it back, stored alone and composed
with the pipeline's decoder by :func:`workbench.latents.load_inversion_vae`).

Choices (the ``inversion_vae`` option of the latent watermark detectors):

- ``"auto"``: the model preset's ``inversion-vae`` where the preset ships one and the pipeline is that
  preset's own SD; else the pipeline's own VAE (hub ids, local folders, dummy pipelines);
- ``"pipeline"``: the pipeline's own VAE;
- a preset name with an ``inversion-vae`` model (``toy``), or a folder holding ``encoder.safetensors``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.latents import ENCODER_FILE

from .resolve import presets, resolve_model

__all__ = ["INVERSION_KIND", "check_inversion_vae", "inversion_vae_folder"]

INVERSION_KIND = "inversion-vae"
SPECIAL = ("auto", "pipeline")


def _preset_folder(name: str) -> Path | None:
    preset = presets().get(name)
    if preset is None or INVERSION_KIND not in preset.sources:
        return None
    return Path(preset.sources[INVERSION_KIND])


def check_inversion_vae(choice: str) -> str:
    """``choice`` if it names an inversion encoder that can exist (see the module doc), else a one-line
    ``ValueError`` saying what is allowed."""
    if choice in SPECIAL or _preset_folder(choice) is not None or (Path(choice) / ENCODER_FILE).is_file():
        return choice
    with_one = [n for n in presets() if _preset_folder(n) is not None]
    raise ValueError(
        f"inversion_vae {choice!r} is neither 'auto', 'pipeline', a preset with an inversion encoder "
        f"({', '.join(with_one) or 'none registered'}) nor a folder holding {ENCODER_FILE}: give one of those "
        "(train one with `workbench toy train vae-inv`)"
    )


def inversion_vae_folder(choice: str, model: str, pipe: Any) -> Path | None:
    """The folder of the inversion encoder to use with ``pipe`` (loaded from ``model``), or ``None`` for the
    pipeline's own VAE.

    Raises:
        ValueError: an unknown choice; FileNotFoundError: a preset's inversion encoder has no weights yet.
    """
    check_inversion_vae(choice)
    if choice == "pipeline":
        return None
    if choice == "auto":
        folder = _preset_folder(model)
        sd = presets()[model].sources.get("sd") if folder is not None else None
        own = getattr(pipe, "name_or_path", None)
        if sd is None or own is None or Path(str(own)).resolve() != Path(sd).resolve():
            return None  # not the preset's SD (a hub id, another folder, a dummy pipeline): its own VAE
        choice = model
    folder = _preset_folder(choice)
    if folder is None:
        return Path(choice)
    resolved = resolve_model(choice, kind=INVERSION_KIND)
    if not resolved.available:
        raise FileNotFoundError(resolved.reason)
    return folder
