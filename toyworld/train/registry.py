"""Names of the toy models' trainers, the default budgets, and where their exports go."""

from __future__ import annotations

from toyworld.presets import MODELS_DIR
from workbench.registry import Registry

__all__ = ["EXPORT_NAMES", "MODELS_DIR", "TRAINERS", "lazy_trainer"]

TRAINERS: Registry = Registry("toy trainer")
# the package folder a trainer exports to, where it is not the trainer's own name
EXPORT_NAMES: dict[str, str] = {
    "unet": "sd",
    "unet-hires": "sd-hires",
    "unet-ref": "sd-ref",
    "retrieval": "sd-retrieval",
}


def lazy_trainer(module: str, cls: str):
    """A trainer factory that imports ``module`` (relative to this package when it starts with a dot)
    only when a trainer is built, so listing trainers stays cheap."""

    def build(**kwargs):
        import importlib

        return getattr(importlib.import_module(module, __package__), cls)(**kwargs)

    return build


TRAINERS.add("vae", lazy_trainer(".vae", "VAETrainer"))
TRAINERS.add("vae-ft", lazy_trainer(".vae_ft", "TextureVAETrainer"))
TRAINERS.add("vae-inv", lazy_trainer(".vae_inv", "InversionEncoderTrainer"))
TRAINERS.add("clip", lazy_trainer(".clip", "CLIPTrainer"))
TRAINERS.add("clip-aug", lazy_trainer(".clip_aug", "DecodedAugmentedCLIPTrainer"))
TRAINERS.add("judge", lazy_trainer(".judge", "JudgeTrainer"))
TRAINERS.add("unet", lazy_trainer(".unet", "UNetTrainer"))
TRAINERS.add("unet-hires", lazy_trainer(".unet_hires", "HiResAttentionTrainer"))
TRAINERS.add("unet-ref", lazy_trainer(".unet_ref", "CrossImageAttentionTrainer"))
TRAINERS.add("captioner", lazy_trainer(".captioner", "CaptionerTrainer"))
TRAINERS.add("captioner-small", lazy_trainer(".captioner_small", "SmallObjectCaptionerTrainer"))
