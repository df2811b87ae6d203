"""A perturbation inside an L-inf ball around a start image (the PGD setting of the paper)."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from .base import SPACES, SearchSpace, SpaceConfig
from .start_image import load_start_image


class LinfBallSpaceConfig(SpaceConfig):
    """
    Attributes:
        eps: the L-inf radius in [0, 1] pixel units (the paper: 15/255).
        start_image: path of the RGB start image, exactly ``image_size`` square; ``None`` when the
            caller passes the image itself.
        init: start at the image (``"zero"``) or at a uniform point of the ball (``"uniform"``).
    """

    name: Literal["linf_ball"] = "linf_ball"
    eps: float = Field(15 / 255, gt=0, le=1)
    start_image: str | None = None
    init: Literal["zero", "uniform"] = "zero"


@SPACES.register("linf_ball")
class LinfBallSpace(SearchSpace):
    """Parameters are a perturbation ``delta`` of shape ``(3, H, W)``; the image is
    ``clamp(start + clamp(delta, -eps, eps), 0, 1)``. Black-box vectors are in units of ``eps``."""

    name = "linf_ball"
    config_class = LinfBallSpaceConfig

    def __init__(
        self,
        config: LinfBallSpaceConfig,
        image_size: int,
        start_image: torch.Tensor,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(config, image_size, device)
        self.start = load_start_image(start_image, self.image_size).to(self.device)  # (3, H, W)
        self.shape = (3, self.image_size, self.image_size)
        self.eps = float(config.eps)
        self.vector_scale = self.eps

    @classmethod
    def from_config(
        cls,
        config: LinfBallSpaceConfig,
        image_size: int,
        device: torch.device | str = "cpu",
        start_image=None,
        **_: object,
    ) -> LinfBallSpace:
        source = start_image if start_image is not None else config.start_image
        if source is None:
            raise ValueError(
                "space 'linf_ball' needs a start image: set attack.space.start_image to an RGB image file"
            )
        return cls(config, image_size, source, device)

    def init(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.config.init == "zero":
            return torch.zeros(n, *self.shape, device=self.device)
        u = torch.rand(n, *self.shape, generator=generator, device=generator.device).to(self.device)
        return self.project((u * 2 - 1) * self.eps)

    def decode(self, params: torch.Tensor) -> torch.Tensor:
        self._check(params)
        delta = params.clamp(-self.eps, self.eps)  # (N, 3, H, W)
        return (self.start.unsqueeze(0) + delta).clamp(0, 1)

    def project(self, params: torch.Tensor) -> torch.Tensor:
        start = self.start.unsqueeze(0)
        delta = params.clamp(-self.eps, self.eps)
        return (start + delta).clamp(0, 1) - start  # (N, 3, H, W), image inside [0, 1] and the ball

    def quantize(self, params: torch.Tensor) -> torch.Tensor:
        start = self.start.unsqueeze(0)
        image = torch.round((start + params).clamp(0, 1) * 255) / 255  # (N, 3, H, W) on the uint8 grid
        return self.project(image - start)
