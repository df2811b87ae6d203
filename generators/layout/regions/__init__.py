"""Region prompts fused per denoising step (MultiDiffusion) as a ``DiffusionPipeline``."""

from .config import RegionsConfig
from .pipeline import RegionsPipelineOutput, StableDiffusionRegionsPipeline

__all__ = ["RegionsConfig", "RegionsPipelineOutput", "StableDiffusionRegionsPipeline"]
