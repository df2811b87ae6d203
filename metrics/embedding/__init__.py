"""Embedding similarity: CLIP-T (image-text), CLIP-I (image-image), concept fidelity, and the image
encoders (with their preprocessing kept inside a differentiable module) they and the distribution
metrics share."""

from metrics.embedding.clip_i import CLIPImageScore
from metrics.embedding.clip_t import CLIPTextScore
from metrics.embedding.concept_fidelity import ConceptFidelity
from metrics.embedding.encoders import CLIPImageEncoder, HFVisionEncoder, ImageEncoder, clip_text_embeddings
from metrics.embedding.preprocess import ImagePreprocess

__all__ = [
    "CLIPImageEncoder",
    "CLIPImageScore",
    "CLIPTextScore",
    "ConceptFidelity",
    "HFVisionEncoder",
    "ImageEncoder",
    "ImagePreprocess",
    "clip_text_embeddings",
]
