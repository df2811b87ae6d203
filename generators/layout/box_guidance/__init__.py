"""Training-free box guidance (BoxDiff, layout guidance) as a ``DiffusionPipeline``."""

from .config import PRESETS, BoxDiffConfig, BoxGuidanceConfig
from .pipeline import BoxGuidancePipelineOutput, StableDiffusionBoxGuidancePipeline

__all__ = [
    "PRESETS",
    "BoxDiffConfig",
    "BoxGuidanceConfig",
    "BoxGuidancePipelineOutput",
    "StableDiffusionBoxGuidancePipeline",
]
