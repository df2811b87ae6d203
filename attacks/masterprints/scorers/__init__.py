"""Scorers: contrastive image-text models behind one interface (white-box and score-only)."""

from .base import Scorer, freeze, pooled
from .blackbox import BlackBoxScorer
from .clip import CLIPScorer
from .preprocess import CLIP_MEAN, CLIP_STD, SIGLIP_MEAN, SIGLIP_STD, ClipPreprocess
from .siglip import SigLIPScorer

__all__ = [
    "BlackBoxScorer",
    "CLIPScorer",
    "CLIP_MEAN",
    "CLIP_STD",
    "ClipPreprocess",
    "SIGLIP_MEAN",
    "SIGLIP_STD",
    "Scorer",
    "SigLIPScorer",
    "freeze",
    "pooled",
]
