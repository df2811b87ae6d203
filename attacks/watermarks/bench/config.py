"""Config of the ``watermark_bench`` experiment."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from attacks.image import IMAGE_ATTACKS
from attacks.watermarks import WATERMARKS
from attacks.watermarks.bench.report import MATCHED_SSIM_LEVELS
from workbench.config import ExperimentConfig
from workbench.sampling import SamplingSection

DEFAULT_PHOTOS = [
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
]
DEFAULT_WATERMARKS = ["dwtDct", "dwtDctSvd", "rivaGan", "treering", "gaussian_shading"]
DEFAULT_ATTACKS = [
    "jpeg",
    "blur",
    "noise",
    "resize",
    "crop",
    "rotation",
    "brightness",
    "contrast",
    "vae_regen",
    "diffusion_regen",
    "combo",
    "paraphrase",
]


def _check_strengths(values: list[float]) -> list[float]:
    for s in values:
        if not math.isfinite(s) or not 0 <= s <= 1:
            raise ValueError(f"strengths must be in [0, 1], got {s}")
    return sorted(set(float(s) for s in values))


class AttackSpec(BaseModel):
    """One attack of the sweep.

    Args:
        name: a registered image attack.
        label: its name in the table (default ``name``); give variants distinct labels, e.g.
            ``paraphrase_g7`` with ``options: {guidance_scale: 7}``.
        strengths: this attack's strengths (default: the config's ``strengths``).
        options: config fields of the attack (``strength`` excluded).
        ground_truth_captions: for ``paraphrase``: guide with the generation prompt instead of the
            captioner's caption (photographs still use the captioner).
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    label: str | None = None
    strengths: list[float] | None = None
    options: dict[str, Any] = {}
    ground_truth_captions: bool = False

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        if name not in IMAGE_ATTACKS:
            raise ValueError(f"unknown attack {name!r}; known: {', '.join(IMAGE_ATTACKS.names())}")
        return name

    @field_validator("strengths")
    @classmethod
    def _unit(cls, values: list[float] | None) -> list[float] | None:
        return None if values is None else _check_strengths(values)

    @property
    def key(self) -> str:
        return self.label or self.name


class GenerationSection(SamplingSection):
    """How the "AI-generated" benchmark images are made: prompts from the shapes world, DDIM.

    Args:
        num_images: generated images (0 for photographs only).
        num_inference_steps, guidance_scale: DDIM generation settings (also used by Tree-Ring and
            Gaussian Shading, whose inversion uses ``num_inference_steps`` steps); unset, the
            workbench's (:data:`~workbench.sampling.WORKBENCH_SAMPLING`).
    """

    num_images: int = Field(32, ge=0)


class PhotoSection(BaseModel):
    """scikit-image's bundled photographs (for the post-hoc watermarks).

    Args:
        names: ``skimage.data`` functions returning RGB photographs.
        crops_per_photo: crops per photograph (the first is the full image, the others random square
            crops of 40-100 % of the short side), each resized to the benchmark size.
    """

    model_config = ConfigDict(extra="forbid")

    names: list[str] = DEFAULT_PHOTOS
    crops_per_photo: int = Field(4, ge=1)


class WatermarkBenchConfig(ExperimentConfig):
    """Config of ``watermark_bench``.

    Args:
        model: Stable Diffusion model for generation, generation-time watermarks and the model-backed
            attacks: a preset (``toy``, ``sd15``, ...), hub id or folder; ``dummy`` builds random-weight
            components (tests and smoke runs: numbers mean nothing).
        clip: CLIP model for CLIP-I and caption faithfulness (``None`` skips both; ``dummy`` as above).
        judge: shapes-world judge for content preservation (``toy``; ``None`` skips it).
        captioner: captioner of the ``paraphrase`` attacks (overridable per attack).
        lpips: compute LPIPS (needs the AlexNet backbone weights; skipped with a note otherwise).
        image_size: benchmark images are resized to this side (>= 256 for invisible-watermark).
        generation, photos: the image sources.
        watermarks: registered watermark names; ``watermark_options`` their config fields.
        attacks: attack names or :class:`AttackSpec` entries; ``attack_options`` config fields by name.
        strengths: default strengths of every attack; the un-attacked row (``none``) is always added.
        batch_size: images per attack / decode call.
        fprs: false-positive rates at which TPR is reported (thresholds from clean images).
        examples: images shown per attack in the report.
        matched_ssim: SSIM levels of the matched-SSIM table (the report also compares every attack at
            each paraphrase cell's own SSIM).
    """

    experiment: Literal["watermark_bench"] = "watermark_bench"
    model: str = "toy"
    clip: str | None = "toy"
    judge: str | None = "toy"
    captioner: str = "toy"
    lpips: bool = True
    image_size: int = Field(256, ge=32)
    generation: GenerationSection = GenerationSection()
    photos: PhotoSection = PhotoSection()
    watermarks: list[str] = DEFAULT_WATERMARKS
    watermark_options: dict[str, dict[str, Any]] = {}
    attacks: list[str | AttackSpec] = DEFAULT_ATTACKS
    attack_options: dict[str, dict[str, Any]] = {}
    strengths: list[float] = [0.1, 0.2, 0.4, 0.6, 0.8]
    batch_size: int = Field(8, ge=1)
    fprs: list[float] = [0.01, 0.001]
    examples: int = Field(2, ge=0)
    matched_ssim: list[float] = list(MATCHED_SSIM_LEVELS)

    @field_validator("watermarks")
    @classmethod
    def _known_watermarks(cls, names: list[str]) -> list[str]:
        for name in names:
            if name not in WATERMARKS:
                raise ValueError(f"unknown watermark {name!r}; known: {', '.join(WATERMARKS.names())}")
        if len(set(names)) != len(names):
            raise ValueError(f"watermarks are listed twice: {names}")
        return names

    @field_validator("strengths")
    @classmethod
    def _unit(cls, values: list[float]) -> list[float]:
        return _check_strengths(values)

    @field_validator("matched_ssim")
    @classmethod
    def _ssim_levels(cls, values: list[float]) -> list[float]:
        if not values or any(not 0 < v <= 1 for v in values):
            raise ValueError(f"matched_ssim levels must be a non-empty list in (0, 1], got {values}")
        return values

    @field_validator("attacks", mode="before")
    @classmethod
    def _specs(cls, values: Any) -> Any:
        return [{"name": v} if isinstance(v, str) else v for v in values]

    @model_validator(mode="after")
    def _unique_labels(self) -> WatermarkBenchConfig:
        keys = [spec.key for spec in self.attack_specs()]
        if len(set(keys)) != len(keys) or "none" in keys:
            raise ValueError(
                f"attack labels must be unique and not 'none', got {keys}; set label: on variants"
            )
        for name in self.attack_options:
            if name not in {s.name for s in self.attack_specs()}:
                raise ValueError(f"attack_options names {name!r}, which is not in attacks")
        return self

    def attack_specs(self) -> list[AttackSpec]:
        return [AttackSpec(name=a) if isinstance(a, str) else a for a in self.attacks]

    def attack_config(self, spec: AttackSpec) -> dict[str, Any]:
        """The attack's config fields: ``attack_options[name]``, then the spec's ``options``; the
        ``paraphrase`` captioner and every model-backed attack's model default to the config's."""
        fields = IMAGE_ATTACKS.get(spec.name).config_class.model_fields
        base: dict[str, Any] = {}
        if "model" in fields:
            base["model"] = self.model
        if "captioner" in fields:
            base["captioner"] = self.captioner
        return {**base, **self.attack_options.get(spec.name, {}), **spec.options}

    def strengths_of(self, spec: AttackSpec) -> list[float]:
        return spec.strengths if spec.strengths is not None else self.strengths
