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
        squash: how parameters become pixels: ``"clamp"`` (pixel value minus 0.5, clipped; the paper)
            or ``"sigmoid"`` (parameters are logits, so every pixel keeps a gradient; a saturated
            clipped pixel has none).
    """

    name: Literal["pixels"] = "pixels"
    param_size: int | None = Field(None, ge=2)
    init: Literal["uniform", "gray"] = "uniform"
    squash: Literal["clamp", "sigmoid"] = "clamp"


LOGIT_EPS = 0.5 / 255
"""Uniform-noise starts in logits stay within ``logit(0.5 / 255)`` of the ends."""


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
        self.sigmoid = config.squash == "sigmoid"
        if self.sigmoid:
            self.vector_scale = 1.0  # logits: CMA-ES's first step spans most of the pixel range

    @classmethod
    def from_config(
        cls, config: PixelSpaceConfig, image_size: int, device: torch.device | str = "cpu", **_: object
    ) -> PixelSpace:
        return cls(config, image_size, device)

    def init(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.config.init == "gray":
            return torch.zeros(n, *self.shape, device=self.device)
        noise = torch.rand(n, *self.shape, generator=generator, device=generator.device)
        if self.sigmoid:
            return torch.logit(noise, eps=LOGIT_EPS).to(self.device)  # (n, 3, s, s) logits
        return (noise - 0.5).to(self.device)  # (n, 3, s, s) in [-0.5, 0.5]

    def decode(self, params: torch.Tensor) -> torch.Tensor:
        self._check(params)
        images = params if self.sigmoid else params + 0.5  # (N, 3, s, s)
        if self.shape[-1] != self.image_size:
            images = F.interpolate(
                images, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False
            )
        if self.sigmoid:
            return torch.sigmoid(images)  # (N, 3, H, W)
        return images.clamp(0, 1)  # (N, 3, H, W)

    def project(self, params: torch.Tensor) -> torch.Tensor:
        if self.sigmoid:
            return params
        return params.clamp(-0.5, 0.5)

    def quantize(self, params: torch.Tensor) -> torch.Tensor:
        if self.sigmoid:
            raise ValueError(
                "the pixel space with squash='sigmoid' holds logits, which never reach pixel values 0 and 255 "
                "exactly; quantise with squash: clamp"
            )
        return torch.round((params + 0.5) * 255) / 255 - 0.5
