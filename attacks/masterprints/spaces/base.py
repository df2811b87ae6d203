"""Search spaces: what the optimisers move, and how it becomes an image.

A space maps a batch of parameters of shape ``(N, *space.shape)`` to images ``(N, 3, H, W)`` in
[0, 1] with :meth:`SearchSpace.decode` (differentiable), keeps parameters feasible with
:meth:`SearchSpace.project`, and converts to and from the flat float64 vectors of nevergrad
(one row per candidate, in units of ``vector_scale``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from workbench.registry import Registry

SPACES: Registry[type[SearchSpace]] = Registry("search space")


class SpaceConfig(BaseModel):
    """Base of every space's typed config; ``name`` selects the space in :data:`SPACES`."""

    model_config = ConfigDict(extra="forbid")

    name: str


class SearchSpace(ABC):
    """A differentiable map from parameters to images.

    Attributes:
        name: the registry name.
        config_class: the space's typed config.
        shape: the parameter shape of one candidate (e.g. ``(4, 28, 28)`` for SD's latent at 224 px).
        image_size: the side of the decoded square images.
        vector_scale: parameter units per unit of a black-box optimiser's vector (so that CMA-ES's
            ``sigma0 = 1`` is a sensible first step in every space).
    """

    name: ClassVar[str]
    config_class: ClassVar[type[SpaceConfig]]
    shape: tuple[int, ...]
    image_size: int
    vector_scale: float = 1.0

    def __init__(self, config: SpaceConfig, image_size: int, device: torch.device | str = "cpu") -> None:
        if image_size < 8:
            raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
        self.config = config
        self.image_size = int(image_size)
        self.device = torch.device(device)

    @property
    def dim(self) -> int:
        """The number of scalars per candidate."""
        return math.prod(self.shape)

    @abstractmethod
    def init(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """`(n, *shape)` starting parameters drawn from ``generator``."""

    @abstractmethod
    def decode(self, params: torch.Tensor) -> torch.Tensor:
        """`(N, 3, H, W)` images in [0, 1] from `(N, *shape)` parameters (differentiable)."""

    def project(self, params: torch.Tensor) -> torch.Tensor:
        """Feasible parameters closest to ``params`` (identity for unconstrained spaces)."""
        return params

    def quantize(self, params: torch.Tensor) -> torch.Tensor:
        """Parameters whose decoded image lies on the uint8 grid (pixel spaces only)."""
        raise ValueError(
            f"space {self.name!r} has no pixel grid to quantise to; use a pixel space or turn quantisation off"
        )

    def from_vectors(self, vectors: np.ndarray) -> torch.Tensor:
        """`(N, *shape)` float32 parameters from `(N, dim)` black-box vectors."""
        x = torch.as_tensor(np.asarray(vectors, dtype=np.float32), device=self.device)
        return x.view(x.shape[0], *self.shape) * self.vector_scale

    def to_vectors(self, params: torch.Tensor) -> np.ndarray:
        """`(N, dim)` float64 black-box vectors from `(N, *shape)` parameters."""
        return (params.detach().reshape(params.shape[0], -1).double().cpu() / self.vector_scale).numpy()

    def describe(self) -> dict[str, Any]:
        return {
            "space": self.name,
            "shape": list(self.shape),
            "dim": self.dim,
            "image_size": self.image_size,
            **self.config.model_dump(),
        }

    def _check(self, params: torch.Tensor) -> None:
        if tuple(params.shape[1:]) != tuple(self.shape):
            raise ValueError(
                f"space {self.name!r} expects parameters of shape (N, {', '.join(map(str, self.shape))}), got {tuple(params.shape)}"
            )


def build_space(
    config: SpaceConfig | dict, image_size: int, device: torch.device | str = "cpu", **resources: Any
) -> SearchSpace:
    """Build the space ``config.name`` from its config and the resources it needs
    (``vae=`` for ``vae_latent``, ``start_image=`` for ``linf_ball`` when the config names none)."""
    if isinstance(config, dict):
        name = config.get("name")
        config = SPACES.get(str(name)).config_class.model_validate(config)
    cls = SPACES.get(config.name)
    return cls.from_config(config, image_size=image_size, device=device, **resources)  # type: ignore[attr-defined]
