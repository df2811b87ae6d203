"""Names of the toy models' trainers, the default budgets, and where their exports go."""

from __future__ import annotations

from pathlib import Path

from ...registry import Registry

TRAINERS: Registry = Registry("toy trainer")
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
# the package folder a trainer exports to, where it is not the trainer's own name
EXPORT_NAMES: dict[str, str] = {
    "unet": "sd",
    "unet-hires": "sd-hires",
    "unet-ref": "sd-ref",
    "retrieval": "sd-retrieval",
}


def _lazy(module: str, cls: str):
    def build(**kwargs):
        import importlib

        return getattr(importlib.import_module(module, __package__), cls)(**kwargs)

    return build


TRAINERS.add("vae", _lazy(".vae", "VAETrainer"))
TRAINERS.add("vae-ft", _lazy(".vae_ft", "TextureVAETrainer"))
TRAINERS.add("clip", _lazy(".clip", "CLIPTrainer"))
TRAINERS.add("judge", _lazy(".judge", "JudgeTrainer"))
TRAINERS.add("unet", _lazy(".unet", "UNetTrainer"))
TRAINERS.add("unet-hires", _lazy(".unet_hires", "HiResAttentionTrainer"))
TRAINERS.add("unet-ref", _lazy(".unet_ref", "CrossImageAttentionTrainer"))
TRAINERS.add("captioner", _lazy(".captioner", "CaptionerTrainer"))
TRAINERS.add("retrieval", _lazy("generators.retrieval.train", "RetrievalTrainer"))
