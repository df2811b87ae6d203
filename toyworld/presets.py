"""The toy world's model presets: ``toy`` (SD, CLIP, captioner, judge), ``toy-ref`` (the toy SD trained
with cross-image self-attention) and ``toy-clip-aug`` (the decoded-augmented toy CLIP), folders of this
package loaded with the stock ``from_pretrained``."""

from __future__ import annotations

from pathlib import Path

from workbench.loading import Preset

__all__ = ["CLIP_AUG_DIR", "MODELS_DIR", "TOY_PRESETS"]

MODELS_DIR = Path(__file__).resolve().parent / "models"
_TRAINERS = {"sd": "unet", "clip": "clip", "captioner": "captioner", "judge": "judge"}
CLIP_AUG_DIR = MODELS_DIR / "clip-aug"


def _hint(trainer: str) -> str:
    return f"train it with `workbench toy train {trainer}` or use the random-weight components of workbench.dummy"


TOY_PRESETS: tuple[Preset, ...] = (
    Preset(
        "toy",
        {kind: str(MODELS_DIR / kind) for kind in ("sd", "clip", "captioner", "judge")},
        "the embedded toy world's models (shapes world), trained by the project",
        missing={kind: _hint(trainer) for kind, trainer in _TRAINERS.items()},
    ),
    Preset(
        "toy-ref",
        {"sd": str(MODELS_DIR / "sd-ref")},
        "the toy SD with decoder self-attention trained across images (16x16 and 8x8), for reference-based "
        "generation (FreeCustom's multi-reference self-attention)",
        missing={"sd": _hint("unet-ref")},
    ),
    Preset(
        "toy-clip-aug",
        {"clip": str(CLIP_AUG_DIR)},
        "a second toy CLIP, fine-tuned from the toy CLIP on images through the toy VAE's round trip and "
        "augmented (noise, blur, exposure, textures), for CLIPMasterPrints in the toy VAE's latent",
        missing={"clip": _hint("clip-aug")},
    ),
)
