"""Distribution metrics (Fréchet distance, KID) with injectable feature extractors."""

from metrics.distribution.features import InceptionV3Features, JudgeFeatures, features_of
from metrics.distribution.frechet import FrechetDistance
from metrics.distribution.kid import KernelInceptionDistance

__all__ = [
    "FrechetDistance",
    "InceptionV3Features",
    "JudgeFeatures",
    "KernelInceptionDistance",
    "features_of",
]
