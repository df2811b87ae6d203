"""Config sections shared by the built-in experiments."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from workbench.config import ConfigSection
from workbench.generation import GENERATORS, generator_config
from workbench.sampling import Sampling, SamplingSection

MAX_PROMPT_CHARS = 10_000
"""The longest prompt accepted (text encoders read the first 77 tokens; a longer prompt is a mistake)."""

DEFAULT_PROMPTS = [
    "a large red circle",
    "a small blue square on the left",
    "a striped yellow star",
]


class GenerateSection(SamplingSection):
    """Text-to-image generation.

    Args:
        model: ``"dummy"`` (random-weight components, offline), ``"auto"`` (the toy world's SD when it is
            trained, else dummy), or a preset name, hub id or local pipeline folder.
        prompts: one or more non-blank prompts of at most :data:`MAX_PROMPT_CHARS` characters.
        images_per_prompt: images generated per prompt.
        num_inference_steps: denoising steps (unset: the method's, :attr:`Generator.sampling`).
        guidance_scale: classifier-free guidance scale, <= 1 disables it (unset: the method's).
        image_size: square output side, a multiple of 8; ``None`` uses the pipeline's default.
        batch_size: images per pipeline call (also the unit of checkpointing).
        method: the registered generator (:data:`workbench.generation.GENERATORS`) that makes the images;
            ``stock`` is the pipeline as it is. Any generator that needs nothing but prompts runs here.
        method_options: that generator's options (its config class holds the defaults).
    """

    model: str = "dummy"
    prompts: list[str] = Field(default_factory=lambda: list(DEFAULT_PROMPTS), min_length=1)
    images_per_prompt: int = Field(2, ge=1, le=10_000)
    image_size: int | None = Field(None, ge=8, le=2048)
    batch_size: int = Field(1, ge=1, le=1024)
    method: str = "stock"
    method_options: dict[str, Any] = Field(default_factory=dict)

    def default_sampling(self) -> Sampling:
        """The chosen method's own sampling (an unknown method is refused by the next check)."""
        return GENERATORS.get(self.method).sampling if self.method in GENERATORS else self.defaults

    @model_validator(mode="after")
    def _known_method(self) -> GenerateSection:
        if self.method not in GENERATORS:
            known = ", ".join(n for n in GENERATORS.names() if not GENERATORS.get(n).requires)
            raise ValueError(f"method: unknown generator {self.method!r}; allowed values: {known}")
        cls = GENERATORS.get(self.method)
        if cls.requires:
            raise ValueError(
                f"method: generator {self.method!r} needs {', '.join(cls.requires)} beyond prompts; "
                "run it through its own experiment"
            )
        generator_config(self.method, self.method_options)  # one-line error for a bad option
        return self

    @field_validator("prompts")
    @classmethod
    def _real_prompts(cls, value: list[str]) -> list[str]:
        for index, prompt in enumerate(value):
            if not prompt.strip():
                raise ValueError(f"prompt {index} is empty; write a prompt or remove the entry")
            if len(prompt) > MAX_PROMPT_CHARS:
                raise ValueError(
                    f"prompt {index} has {len(prompt)} characters, more than {MAX_PROMPT_CHARS}; shorten it "
                    "(the text encoder reads only its first 77 tokens)"
                )
        return value

    @field_validator("image_size")
    @classmethod
    def _multiple_of_8(cls, value: int | None) -> int | None:
        if value is not None and value % 8:
            raise ValueError(
                f"must be a multiple of 8 (e.g. {value - value % 8 or 8} or {value - value % 8 + 8})"
            )
        return value


class ScoreSection(ConfigSection):
    """Scoring of the generated images.

    Args:
        clip: CLIP model for the CLIP score: ``"dummy"``, ``"auto"`` (toy CLIP when trained, else dummy), a
            preset name, hub id or local folder; ``"none"`` skips the CLIP score.
    """

    clip: str = "dummy"
