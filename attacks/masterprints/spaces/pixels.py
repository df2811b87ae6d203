"""Raw pixels (optionally at a lower resolution, upsampled)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from .base import SPACES, SearchSpace, SpaceConfig


class PixelSpaceConfig(SpaceConfig):
    """
    Attributes:
        param_size: optimise a ``param_size`` x ``param_size`` grid, bilinearly upsampled to the image
            size (``None``: full resolution). Small grids suit black-box optimisers.
        init: ``"uniform"`` noise in [0, 1] (the paper) or flat ``"gray"``.
    """

    name: Literal["pixels"] = "pixels"
    param_size: int | None = Field(None, ge=2)
    init: Literal["uniform", "gray"] = "uniform"


@SPACES.register("pixels")
class PixelSpace(SearchSpace):
    """Pixels directly: parameters are pixel values minus 0.5, so the all-zero vector is mid-gray.

    Parameters have shape ``(3, s, s)`` with ``s = param_size or image_size``; decoding upsamples to
    ``image_size`` and clamps to [0, 1].
    """

    name = "pixels"
    config_class = PixelSpaceConfig
    vector_scale = 0.25

    def __init__(self, config: PixelSpaceConfig, image_size: int, device: torch.device | str = "cpu") -> None:
        super().__init__(config, image_size, device)
        s = config.param_size or self.image_size
        if s > self.image_size:
            raise ValueError(f"param_size {s} is larger than the image size {self.image_size}")
        self.shape = (3, s, s)

    @classmethod
    def from_config(
        cls, config: PixelSpaceConfig, image_size: int, device: torch.device | str = "cpu", **_: object
    ) -> PixelSpace:
        return cls(config, image_size, device)

    def init(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.config.init == "gray":
            return torch.zeros(n, *self.shape, device=self.device)
        noise = torch.rand(n, *self.shape, generator=generator, device=generator.device)
        return (noise - 0.5).to(self.device)  # (n, 3, s, s) in [-0.5, 0.5]

    def decode(self, params: torch.Tensor) -> torch.Tensor:
        self._check(params)
        images = params + 0.5  # (N, 3, s, s)
        if self.shape[-1] != self.image_size:
            images = F.interpolate(
                images, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False
            )
        return images.clamp(0, 1)  # (N, 3, H, W)

    def project(self, params: torch.Tensor) -> torch.Tensor:
        return params.clamp(-0.5, 0.5)

    def quantize(self, params: torch.Tensor) -> torch.Tensor:
        return torch.round((params + 0.5) * 255) / 255 - 0.5
