"""LPIPS in plain torch: ImageNet backbones (torchvision-compatible parameter names, no torchvision
import) and the published linear heads of the ``lpips`` package."""

from metrics.perceptual.backbones import BACKBONES, AlexNetFeatures, BackboneSpec, VGG16Features
from metrics.perceptual.lpips_net import LPIPSNetwork
from metrics.perceptual.weights import LPIPS_BACKBONE_ENV, LPIPSWeightsError, find_backbone_file

__all__ = [
    "BACKBONES",
    "AlexNetFeatures",
    "BackboneSpec",
    "LPIPSNetwork",
    "LPIPSWeightsError",
    "LPIPS_BACKBONE_ENV",
    "VGG16Features",
    "find_backbone_file",
]
