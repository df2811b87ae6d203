"""GCDP (Park et al., ICCV 2023): an image and its semantic layout generated together from text by one
denoiser, Gaussian diffusion for the image latent and categorical (absorbing-state) diffusion for the layout.
Modes of one pipeline: text -> (image, layout), layout -> image, image -> layout."""

from .model import GCDPDenoiser, GCDPDenoiserOutput
from .scheduler import AbsorbingCategoricalScheduler, CategoricalSchedulerOutput

__all__ = [
    "AbsorbingCategoricalScheduler",
    "CategoricalSchedulerOutput",
    "GCDPDenoiser",
    "GCDPDenoiserOutput",
]
