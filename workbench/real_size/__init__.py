"""Real-size random-weight models: SD-1.5, SD-2.1-base, CLIP ViT-L/14 and BLIP-base built from their
published configs (the JSON files beside this module), with random weights and no download.

They measure what the methods cost at the size a GPU user runs them (512 px, 64 x 64 latents): time per
step and peak memory, on the CPU or a GPU. The tokenizers are the offline dummy ones of
:mod:`workbench.dummy` (their ids fall inside the real vocabularies); everything else has the published
shape. ``benchmarks/real_size.py`` runs every module on them; ``docs/real_size.md`` has the numbers.

Example:
    >>> from workbench.real_size import REAL_MODELS, load_real_config
    >>> sorted(REAL_MODELS)
    ['blip-base', 'clip-l14', 'sd15', 'sd21-base']
    >>> load_real_config("sd21-base")["unet"]["attention_head_dim"]
    [5, 10, 20, 20]
"""

from .build import (
    REAL_MODELS,
    load_real_config,
    real_captioner,
    real_clip,
    real_sd_components,
    real_sd_pipeline,
    save_real_captioner,
    save_real_clip,
    save_real_model,
    save_real_sd,
)

__all__ = [
    "REAL_MODELS",
    "load_real_config",
    "real_captioner",
    "real_clip",
    "real_sd_components",
    "real_sd_pipeline",
    "save_real_captioner",
    "save_real_clip",
    "save_real_model",
    "save_real_sd",
]
