"""Typed config of ``purification-vs-master-prints`` (defaults in one place: here)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from apps.studies.mining import MiningSection
from workbench.config import ConfigSection, ExperimentConfig

__all__ = ["PurificationConfig", "TransformSection"]


class TransformSection(ConfigSection):
    """One purifier: a registered image attack (``attacks.image.IMAGE_ATTACKS``) at several strengths.

    Args:
        attack: the attack's registered name (``jpeg``, ``blur``, ``vae_regen``, ``paraphrase``, ...).
        strengths: strengths in [0, 1] (each attack maps it to its own parameter).
        options: the attack's other config fields (e.g. ``num_inference_steps`` of ``paraphrase``).
    """

    attack: str
    strengths: list[Annotated[float, Field(ge=0, le=1)]] = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)


def _default_transforms() -> list[TransformSection]:
    return [
        TransformSection(attack="jpeg", strengths=[0.25, 0.5, 0.75, 1.0]),
        TransformSection(attack="blur", strengths=[0.125, 0.25, 0.5, 1.0]),
        TransformSection(attack="vae_regen", strengths=[0.0, 0.25, 0.5, 1.0]),
        TransformSection(
            attack="paraphrase",
            strengths=[0.2, 0.4, 0.6],
            options={"num_inference_steps": 20, "resolution": "input"},
        ),
    ]


class PurificationConfig(ExperimentConfig):
    """Config of ``purification-vs-master-prints``.

    Args:
        seeds: seeds ``seed .. seed + seeds - 1``; each mines its own master images on its own prompts.
        clip: the CLIP under attack (``auto``, ``toy``, ``dummy``, a preset, hub id or folder).
        prompts: colour-shape class prompts drawn per seed, the master images' targets and the zero-shot
            classes.
        masters: master images mined per seed.
        mining: the pixel recipe (the largest budget is used).
        real_per_prompt: real toy images per prompt (test split, one object): the zero-shot set and the
            images a master image has to outrank.
        transforms: the purifiers and their strengths.
        batch_size: images per attack call.
    """

    experiment: Literal["purification-vs-master-prints"] = "purification-vs-master-prints"
    seeds: int = Field(3, ge=1)
    clip: str = "auto"
    prompts: int = Field(12, ge=2)
    masters: int = Field(2, ge=1)
    mining: MiningSection = MiningSection(budgets=[400])
    real_per_prompt: int = Field(4, ge=1)
    transforms: list[TransformSection] = Field(default_factory=_default_transforms)
    batch_size: int = Field(32, ge=1)
