"""Image attacks: a registry of batched attacks, each with one ``strength`` in [0, 1].

Example:
    >>> import torch
    >>> from attacks.image import IMAGE_ATTACKS, build_attack
    >>> "jpeg" in IMAGE_ATTACKS
    True
    >>> build_attack("blur", strength=0.25)(torch.rand(1, 3, 16, 16)).shape
    torch.Size([1, 3, 16, 16])
"""

from __future__ import annotations

from typing import Any

from attacks.image import (  # noqa: F401  (each module registers its attack)
    blur,
    brightness,
    combo,
    contrast,
    crop,
    diffusion_regen,
    jpeg,
    noise,
    paraphrase,
    resize,
    rotation,
    vae_regen,
)
from attacks.image.base import AttackConfig, ImageAttack, check_images
from attacks.image.models import AttackModels
from attacks.image.registry import IMAGE_ATTACKS


def build_attack(name: str, models: AttackModels | None = None, **config: Any) -> ImageAttack:
    """The registered attack ``name`` with its config fields given as keywords.

    Raises:
        KeyError: unknown name (the message lists the known ones).
        pydantic.ValidationError: a bad config value (e.g. strength outside [0, 1]).
    """
    return IMAGE_ATTACKS.get(name)(config, models=models)


__all__ = ["IMAGE_ATTACKS", "AttackConfig", "AttackModels", "ImageAttack", "build_attack", "check_images"]
