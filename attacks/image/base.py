"""The interface every image attack follows: a batch in, a batch out, one ``strength`` knob.

An attack takes images ``(B, 3, H, W)`` float in [0, 1] and a typed config whose ``strength`` in
[0, 1] is mapped to the attack's own parameter (documented on each class: e.g. JPEG quality =
``100 - 90 * strength``). It returns a batch of the same shape, in [0, 1], and is deterministic given
a ``torch.Generator`` (or one generator per image, for results that do not depend on the batching).
"""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar

import torch
from pydantic import field_validator

from attacks.image.models import AttackModels
from attacks.image.ops import check_images
from workbench.config import ConfigSection

logger = logging.getLogger(__name__)

GeneratorArg = torch.Generator | list[torch.Generator] | None


class AttackConfig(ConfigSection):
    """Settings shared by every attack.

    Args:
        strength: 0 is the mildest setting (often the identity), 1 the strongest.
    """

    strength: float = 0.5

    @field_validator("strength", mode="before")
    @classmethod
    def _finite_strength(cls, value: object) -> object:
        """inf / nan get the range message below rather than the generic "finite number" one."""
        if isinstance(value, float) and not math.isfinite(value):
            return cls._strength_in_unit_interval(value)
        return value

    @field_validator("strength")
    @classmethod
    def _strength_in_unit_interval(cls, value: float) -> float:
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise ValueError(
                f"strength must be in [0, 1] (0 = mildest, 1 = strongest), got {value}; "
                "each attack maps it to its own parameter (see the attack's docstring)"
            )
        return float(value)


def per_image_generators(generator: GeneratorArg, batch_size: int) -> list[torch.Generator]:
    """One generator per image: a list is checked and returned, a single generator is shared
    (drawn from in image order), ``None`` becomes a generator seeded with 0 (reproducible)."""
    if isinstance(generator, list):
        if len(generator) != batch_size:
            raise ValueError(
                f"got {len(generator)} generators for a batch of {batch_size} images; pass one per image"
            )
        return generator
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    return [generator] * batch_size


class ImageAttack:
    """Base class of image attacks; subclasses set ``name``, ``config_class`` and implement ``apply``.

    Args:
        config: the attack's config (its ``config_class``); keyword overrides are merged into it.
        models: where model-backed attacks get their pipelines and captioners (ignored by the others).

    Example:
        >>> from attacks.image import build_attack
        >>> attack = build_attack("jpeg", strength=0.5)
        >>> attack(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 3, 32, 32])
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[AttackConfig]] = AttackConfig

    def __init__(
        self,
        config: AttackConfig | dict[str, Any] | None = None,
        models: AttackModels | None = None,
        **overrides: Any,
    ) -> None:
        self.models = models if models is not None else AttackModels()
        if config is None:
            config = {}
        if isinstance(config, AttackConfig):
            config = config.model_dump()
        self.config = self.config_class(**{**config, **overrides})

    @property
    def strength(self) -> float:
        return self.config.strength

    def with_strength(self, strength: float) -> ImageAttack:
        """A copy of this attack at another strength (sharing any loaded models)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.config = self.config.model_copy(
            update={"strength": self.config_class(strength=strength).strength}
        )
        return clone

    def parameters(self) -> dict[str, Any]:
        """The attack's own parameters at the configured strength (recorded with results)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Name, config and derived parameters, JSON-serialisable."""
        return {
            "attack": self.name,
            "config": self.config.model_dump(mode="json"),
            "parameters": self.parameters(),
        }

    def apply(self, images: torch.Tensor, generator: GeneratorArg) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, generator: GeneratorArg = None) -> torch.Tensor:
        """Attack a batch.

        Args:
            images (`torch.Tensor` of shape `(B, 3, H, W)`): float images in [0, 1].
            generator: a `torch.Generator`, one per image, or ``None`` (seed 0).

        Returns:
            `torch.Tensor` of shape `(B, 3, H, W)` in [0, 1], on the input's device and dtype.
        """
        check_images(images)
        out = self.apply(images, generator)
        if out.shape != images.shape:
            raise RuntimeError(
                f"attack {self.name!r} returned shape {tuple(out.shape)} for input {tuple(images.shape)}"
            )
        return out.clamp(0, 1).to(device=images.device, dtype=images.dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"
