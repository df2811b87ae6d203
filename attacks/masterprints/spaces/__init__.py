"""Search spaces of master-image mining: pixels, an L-inf ball around a start image, a VAE latent."""

from .base import SPACES, SearchSpace, SpaceConfig, build_space
from .linf_ball import LinfBallSpace, LinfBallSpaceConfig
from .pixels import PixelSpace, PixelSpaceConfig
from .start_image import load_start_image
from .vae_latent import VAELatentSpace, VAELatentSpaceConfig

__all__ = [
    "SPACES",
    "LinfBallSpace",
    "LinfBallSpaceConfig",
    "PixelSpace",
    "PixelSpaceConfig",
    "SearchSpace",
    "SpaceConfig",
    "VAELatentSpace",
    "VAELatentSpaceConfig",
    "build_space",
    "load_start_image",
]
