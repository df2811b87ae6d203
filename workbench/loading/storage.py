"""Saving diffusers models compactly: float16 weights on disk, float32 once loaded.

The diffusers models of a pipeline (UNet, VAE, adapters) are written with float16 weights, half their float32
size; ``from_pretrained`` casts them back to the float32 the models are built in, so stock loading is unchanged
and predictions move only by the rounding of the weights (relative ~5e-4). transformers models (the text
encoder) keep float32: transformers loads a checkpoint in the dtype it was saved in.

Example:
    >>> save_pipeline_half(pipe, "exports/sd")  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from pathlib import Path

from diffusers import DiffusionPipeline, ModelMixin

__all__ = ["save_model_half", "save_pipeline_half"]


def save_model_half(model: ModelMixin, folder: str | Path) -> Path:
    """Save a diffusers ``model`` in ``folder`` with float16 weights, leaving ``model`` itself untouched."""
    folder = Path(folder)
    copy.deepcopy(model).half().save_pretrained(folder, safe_serialization=True)
    return folder


def save_pipeline_half(pipe: DiffusionPipeline, folder: str | Path) -> Path:
    """``pipe.save_pretrained(folder)`` with every diffusers model component stored in float16."""
    folder = Path(folder)
    pipe.save_pretrained(folder, safe_serialization=True)
    for name, component in pipe.components.items():
        if isinstance(component, ModelMixin):
            save_model_half(component, folder / name)
    return folder
