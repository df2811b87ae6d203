"""A chain of attacks applied in order at one shared strength."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import field_validator

from attacks.image.base import AttackConfig, GeneratorArg, ImageAttack, per_image_generators
from attacks.image.registry import IMAGE_ATTACKS


class ComboConfig(AttackConfig):
    """Args:
    strength: passed to every attack in the chain.
    attacks: registered attack names, applied left to right (``combo`` itself is not allowed).
    options: per-attack config overrides, e.g. ``{"jpeg": {"subsampling": "4:4:4"}}``.
    """

    attacks: list[str] = ["jpeg", "blur", "noise"]
    options: dict[str, dict[str, Any]] = {}

    @field_validator("attacks")
    @classmethod
    def _known_attacks(cls, names: list[str]) -> list[str]:
        if not names:
            raise ValueError("combo needs at least one attack name")
        for name in names:
            if name == "combo":
                raise ValueError("combo cannot contain itself")
            if name not in IMAGE_ATTACKS:
                raise ValueError(f"unknown image attack {name!r}; known: {', '.join(IMAGE_ATTACKS.names())}")
        return names


@IMAGE_ATTACKS.register("combo")
class Combo(ImageAttack):
    """Apply ``attacks`` in order, each at ``strength`` (e.g. JPEG then blur then noise)."""

    name = "combo"
    config_class = ComboConfig

    def __init__(
        self, config: ComboConfig | dict[str, Any] | None = None, models=None, **overrides: Any
    ) -> None:
        super().__init__(config, models=models, **overrides)
        self.chain = self._build_chain()

    def _build_chain(self) -> list[ImageAttack]:
        cfg = self.config
        return [
            IMAGE_ATTACKS.get(name)(
                {**cfg.options.get(name, {}), "strength": cfg.strength}, models=self.models
            )
            for name in cfg.attacks
        ]

    def with_strength(self, strength: float) -> ImageAttack:
        clone = super().with_strength(strength)
        clone.chain = [a.with_strength(clone.strength) for a in self.chain]
        return clone

    def parameters(self) -> dict[str, Any]:
        return {a.name: a.parameters() for a in self.chain}

    def apply(self, images: torch.Tensor, generator: GeneratorArg) -> torch.Tensor:
        gens = per_image_generators(generator, images.shape[0]) if isinstance(generator, list) else generator
        for attack in self.chain:
            images = attack(images, gens)
        return images
