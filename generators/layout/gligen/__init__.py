"""GLIGEN-style grounding (gated self-attention over grounding tokens) on diffusers' own classes:
``UNet2DConditionModel(attention_type="gated")`` with its position net, run by
``StableDiffusionGLIGENPipeline``. Trained on the toy world by :mod:`generators.layout.train_gligen`."""

from .model import GLIGEN_DIR, GROUNDING_PREFIXES, gated_unet_from, grounding_parameters
from .pipeline import generate_grounded, gligen_pipeline_from, load_gligen_pipeline

__all__ = [
    "GLIGEN_DIR",
    "GROUNDING_PREFIXES",
    "gated_unet_from",
    "generate_grounded",
    "gligen_pipeline_from",
    "grounding_parameters",
    "load_gligen_pipeline",
]
