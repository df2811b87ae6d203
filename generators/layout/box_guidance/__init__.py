"""Training-free box guidance (BoxDiff, layout guidance) as a ``DiffusionPipeline``."""

from .config import PRESETS, BoxGuidanceConfig
from .pipeline import BoxGuidancePipelineOutput, StableDiffusionBoxGuidancePipeline

__all__ = ["PRESETS", "BoxGuidanceConfig", "BoxGuidancePipelineOutput", "StableDiffusionBoxGuidancePipeline"]
