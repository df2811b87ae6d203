"""Typed config of ``watermarks-through-generators`` (defaults in one place: here)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from apps.studies.purification.config import TransformSection
from workbench.config import ConfigSection, ExperimentConfig
from workbench.sampling import Sampling, SamplingSection

__all__ = ["GENERATORS", "STUDY_SAMPLING", "WATERMARKS", "WatermarkStudyConfig"]

# The generators the study builds inputs for (a layout, region prompts, concept references, retrieved
# neighbours, target boxes), all of which start from given initial latents.
Generator = Literal[
    "stock",
    "text",
    "regions",
    "box_guidance",
    "boxdiff",
    "freecustom",
    "retrieval_reference",
    "retrieval_blend",
]
GENERATORS: tuple[str, ...] = Generator.__args__
WatermarkName = Literal["dwtDct", "dwtDctSvd", "rivaGan", "treering", "gaussian_shading"]
WATERMARKS: tuple[str, ...] = WatermarkName.__args__

STUDY_SAMPLING = Sampling(num_inference_steps=10, guidance_scale=5.0)
"""The study's sampling: the watermark claims' settings (10 DDIM steps, guidance 5)."""


class ModelsSection(ConfigSection):
    """Models: ``auto`` is the trained toy model when present, else random-weight dummy components.

    Args:
        sd: the Stable Diffusion every generator shares, the generation-time watermarks' inversion model and
            the model-backed attacks' model unless an attack's ``options.model`` says otherwise.
        clip: the knowledge base's CLIP (the retrieval generators' neighbours).
    """

    sd: str = "auto"
    clip: str = "auto"


class GenerationSection(SamplingSection):
    """Sampling of every generator (DDIM: the generation-time watermarks invert a DDIM schedule).

    Args:
        num_inference_steps, guidance_scale: unset, :data:`STUDY_SAMPLING`; the generation-time watermarks
            invert with as many steps.
        size: generated side in pixels (``None``: the model's).
    """

    defaults: ClassVar[Sampling] = STUDY_SAMPLING

    size: int | None = Field(None, ge=8)


class ScenesSection(ConfigSection):
    """The prompts: per seed, ``prompts`` two-object toy scenes, a named entity and a large object in two grid
    cells (``"a zorvik emblem on the left and a large striped blue star on the right"``), so that every
    generator has its inputs: the layout and region prompts (the shapes planner), the concepts' reference
    images (FreeCustom) and the entity's neighbours (retrieval).

    Args:
        prompts: scenes per seed (each generator makes one image of each, from the same initial noise).
        views_per_entity: catalogue views per entity in the knowledge base.
        k: neighbours retrieved per prompt (by BM25 on the entries' captions).
    """

    prompts: int = Field(4, ge=1)
    views_per_entity: int = Field(2, ge=1)
    k: int = Field(2, ge=1)


def _default_attacks() -> list[TransformSection]:
    # one strength each at the default size (every condition costs a detection of every image); the strength
    # curves of the larger settings are in docs/studies.md
    return [
        TransformSection(attack="jpeg", strengths=[0.5]),
        TransformSection(attack="blur", strengths=[0.5]),
        TransformSection(attack="vae_regen", strengths=[0.5], options={"resolution": "native"}),
        TransformSection(attack="paraphrase", strengths=[0.3], options={"num_inference_steps": 20}),
    ]


def _default_watermark_options() -> dict[str, dict[str, Any]]:
    # 64 bits on the toy SD's 4 x 16 x 16 latents; decoder inversion before DDIM inversion
    return {"gaussian_shading": {"hw_factor": 4, "decoder_inversion_steps": 20}}


class WatermarkStudyConfig(ExperimentConfig):
    """Config of ``watermarks-through-generators``.

    Args:
        seeds: seeds ``seed .. seed + seeds - 1``; each draws its own scenes, initial noise and watermark keys.
        models: see :class:`ModelsSection`.
        generation: see :class:`GenerationSection`.
        scenes: see :class:`ScenesSection`.
        generators: the generators compared (``stock`` is the baseline of the comparisons).
        generator_options: each generator's config fields (validated by its config class).
        watermarks: post-hoc (``dwtDct``, ``dwtDctSvd``, ``rivaGan``: embedded into each generator's clean
            images) and generation-time (``treering``, ``gaussian_shading``: written into the initial latents
            each generator starts from).
        watermark_options: each watermark's config fields (the generation-time ones take their steps,
            guidance and latent size from ``generation``).
        attacks: registered image attacks (``attacks.image.IMAGE_ATTACKS``) at their strengths.
        image_size: side the images are stored, watermarked and attacked at (>= 256 for invisible-watermark);
            the generation-time watermarks' detectors resize back to the generated size.
        fpr: false-positive rate of the detection threshold (on every generator's clean images of the seed).
        matched_ssim: SSIM levels (to the watermarked image) at which detection is interpolated along each
            attack's strength curve.
        batch_size: images per attack call.
    """

    experiment: Literal["watermarks-through-generators"] = "watermarks-through-generators"
    seeds: int = Field(3, ge=1)
    models: ModelsSection = ModelsSection()
    generation: GenerationSection = GenerationSection()
    scenes: ScenesSection = ScenesSection()
    generators: list[Generator] = Field(
        default_factory=lambda: ["stock", "regions", "box_guidance", "freecustom", "retrieval_blend"],
        min_length=1,
    )
    generator_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    watermarks: list[WatermarkName] = Field(default_factory=lambda: list(WATERMARKS), min_length=1)
    watermark_options: dict[str, dict[str, Any]] = Field(default_factory=_default_watermark_options)
    attacks: list[TransformSection] = Field(default_factory=_default_attacks)
    image_size: int = Field(256, ge=32)
    fpr: float = Field(0.01, gt=0, lt=1)
    matched_ssim: list[Annotated[float, Field(gt=0, le=1)]] = Field(default_factory=lambda: [0.98, 0.96])
    batch_size: int = Field(8, ge=1)

    @field_validator("generators", "watermarks")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError(f"names are listed twice: {values}")
        return values

    @field_validator("generator_options")
    @classmethod
    def _known_generators(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        unknown = [k for k in value if k not in GENERATORS]
        if unknown:
            raise ValueError(f"options for unknown generator(s) {unknown}; known: {', '.join(GENERATORS)}")
        return value

    @field_validator("watermark_options")
    @classmethod
    def _known_watermarks(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        unknown = [k for k in value if k not in WATERMARKS]
        if unknown:
            raise ValueError(f"options for unknown watermark(s) {unknown}; known: {', '.join(WATERMARKS)}")
        return value
