"""Typed config of the ``multiconcept`` experiment (the toy-world concept benchmark)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from workbench.config import ExperimentConfig
from workbench.sampling import PIPELINE_SAMPLING, SamplingSection

Method = Literal["freecustom", "text", "collage"]
METHODS: tuple[str, ...] = ("freecustom", "text", "collage")

__all__ = [
    "METHODS",
    "BaselinesSection",
    "BenchmarkSection",
    "FreeCustomSection",
    "GenerationSection",
    "ModelsSection",
    "MultiConceptConfig",
    "ScoreSection",
]


class ModelsSection(BaseModel):
    """Models.

    Args:
        sd: the generator: ``"dummy"`` (random weights, offline), ``"auto"`` (the toy SD when trained, else
            dummy), a preset (``toy``, ``sd15``, ``sd21``), a hub id or a pipeline folder.
        clip: CLIP for CLIP-T / CLIP-I: ``"dummy"``, ``"auto"``, a preset (``clip-b32``, ``toy``), a hub id, a
            folder, or ``"none"``.
        judge: the toy world's judge: ``"auto"`` (the trained one, else none), ``"none"``, ``"random"``
            (random weights: exercises the code path, the numbers mean nothing) or a folder.
        fidelity_encoder: a vision backbone (hub id / folder, e.g. ``facebook/dinov2-small``) for the
            concept-fidelity (DINO) score, or ``"none"``.
        image_size: output side in pixels, a multiple of 8 (default: the pipeline's).
    """

    model_config = ConfigDict(extra="forbid")

    sd: str = "dummy"
    clip: str = "dummy"
    judge: str = "auto"
    fidelity_encoder: str = "none"
    image_size: int | None = Field(None, ge=8, le=2048)

    @field_validator("image_size")
    @classmethod
    def _multiple_of_8(cls, value: int | None) -> int | None:
        if value is not None and value % 8:
            raise ValueError(
                f"must be a multiple of 8 (e.g. {value - value % 8 or 8} or {value - value % 8 + 8})"
            )
        return value


class BenchmarkSection(BaseModel):
    """The compositions.

    Args:
        pairs, triples: how many compositions of 2 and of 3 concepts.
        images_per_composition: images per composition and method (one pipeline call, same seeds for
            every method).
        entity_prob: the chance that a concept is a named entity rather than a plain object.
        entity_buckets: the buckets named entities come from: ``frequent`` and ``rare`` (names the toy SD
            saw in training, often or seldom), ``unseen`` (names it never saw: concepts only a reference image
            defines, as a user's own object is for Stable Diffusion).
        mask_source: ``"world"`` (the renderer's exact masks) or ``"judge"`` (the judge's box cut to the
            foreground: what a user without ground truth gets).
        concept_words: how the target and concept prompts name each concept: ``"full"`` (every attribute,
            or the entity's name: the text-only baseline is told everything the judge checks) or ``"class"``
            (its class only, ``"a large circle"``, ``"an emblem"``: colour, texture and design are in the
            reference alone, as in FreeCustom's prompts, which name a user's concept ``"a dog"``).
    """

    model_config = ConfigDict(extra="forbid")

    pairs: int = Field(8, ge=0, le=10_000)
    triples: int = Field(4, ge=0, le=10_000)
    images_per_composition: int = Field(4, ge=1, le=64)
    entity_prob: float = Field(0.25, ge=0.0, le=1.0)
    entity_buckets: list[Literal["frequent", "rare", "unseen"]] = Field(
        default_factory=lambda: ["frequent", "rare", "unseen"], min_length=1
    )
    mask_source: Literal["world", "judge"] = "world"
    concept_words: Literal["full", "class"] = "full"


class GenerationSection(SamplingSection):
    """Sampling shared by every method; unset steps and guidance are the paper's (DDIM, diffusers' defaults
    :data:`~workbench.sampling.PIPELINE_SAMPLING`: 50 steps, guidance 7.5)."""

    defaults = PIPELINE_SAMPLING

    scheduler: Literal["ddim", "pipeline"] = "ddim"
    negative_prompt: str | None = None


class FreeCustomSection(BaseModel):
    """MRSA settings (see ``MultiConceptPipeline.__call__``).

    Args:
        mask_resize: how a concept mask is reduced to each layer's token grid: ``"coverage"`` (the default:
            a token is inside when at least half of it is, a small concept keeps its most covered token) or
            ``"nearest"`` (the authors' ``F.interpolate(mask, size, mode="nearest")``: each token takes its
            top-left pixel); see :mod:`workbench.attention.masks` and docs/multiconcept.md.
        mask_balance: add ``log(mean N / N_r)`` to concept ``r``'s mask weight at each layer (``N_r`` the tokens
            its mask keeps there): every concept draws the same share of attention whatever its size in
            tokens; ``False`` is the authors' one weight for all (docs/multiconcept.md).
        bind: concept binding (:mod:`workbench.attention.binding`): each generated token attends to the
            reference of the concept its own cross-attention points to (the concept's phrase in the prompt):
            ``"hard"`` (the default: other concepts' references masked out; both concepts found in 0.74 of
            class-word pairs over six seeds against 0.58, docs/multiconcept.md), ``"soft"`` (other concepts'
            references lowered by ``bind_strength`` times the log ratio of the maps) or ``"off"`` (the
            authors' MRSA: every token attends to every reference).
        bind_strength: the multiplier of ``"soft"`` binding (> 0).
    """

    model_config = ConfigDict(extra="forbid")

    layers: list[str] = Field(default_factory=lambda: ["freecustom"])
    mask_weight: float = 3.0
    mask_resize: Literal["coverage", "nearest"] = "coverage"
    mask_balance: bool = False
    bind: Literal["off", "soft", "hard"] = "hard"
    bind_strength: float = Field(1.0, gt=0.0, allow_inf_nan=False)
    style_fidelity: float = Field(1.0, ge=0.0, le=1.0)
    use_concept_prompts: bool = True
    start_step: int = Field(0, ge=0)
    end_step: int | None = Field(None, ge=0)


class BaselinesSection(BaseModel):
    """Which methods run, and the baselines' settings.

    Args:
        methods: any of ``freecustom``, ``text`` (the plain pipeline, concepts in words), ``collage``
            (img2img from a collage of the references).
        collage_strength: img2img strength of the collage baseline.
        collage_layout: ``"prompt"`` pastes each concept where the prompt puts it; ``"strips"`` left to right.
        append_concept_prompts: the text baseline appends the concept prompts to the target prompt.
    """

    model_config = ConfigDict(extra="forbid")

    methods: list[Method] = Field(default_factory=lambda: list(METHODS), min_length=1)
    collage_strength: float = Field(0.7, gt=0.0, le=1.0)
    collage_layout: Literal["prompt", "strips"] = "prompt"
    append_concept_prompts: bool = False


class ScoreSection(BaseModel):
    """Scoring.

    Args:
        judge_attributes: what a plain object must match to count as found (entities match by name).
        crop_size: side of the region crops compared with the references.
        grid_compositions: compositions shown in the report's image grids.
    """

    model_config = ConfigDict(extra="forbid")

    judge_attributes: list[Literal["shape", "color", "texture"]] = Field(
        default_factory=lambda: ["shape", "color", "texture"], min_length=1
    )
    crop_size: int = Field(64, ge=8, le=1024)
    grid_compositions: int = Field(6, ge=0, le=1000)


class MultiConceptConfig(ExperimentConfig):
    """Config of the ``multiconcept`` experiment."""

    experiment: Literal["multiconcept"] = "multiconcept"
    models: ModelsSection = ModelsSection()
    benchmark: BenchmarkSection = BenchmarkSection()
    generation: GenerationSection = GenerationSection()
    freecustom: FreeCustomSection = FreeCustomSection()
    baselines: BaselinesSection = BaselinesSection()
    score: ScoreSection = ScoreSection()
