"""Typed configs of a mining run (``attack``, ``models``, ``evaluation`` sections)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator, model_validator

from .mining import BudgetConfig
from .mitigations.detector import DetectorConfig
from .mitigations.detector_data import DetectorSetConfig
from .objective import ObjectiveConfig
from .optimizers.base import OPTIMIZERS, OptimizerConfig
from .prompts import MAX_PROMPTS
from .spaces.base import SPACES, SpaceConfig


def _dispatch(registry, value: Any, what: str) -> BaseModel:
    """Validate a ``{name: ..., ...}`` mapping against the config class of the registered ``name``."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict) or "name" not in value:
        raise ValueError(
            f"{what} must be a mapping with a 'name' (one of {', '.join(registry.names())}), got {value!r}"
        )
    name = value["name"]
    if name not in registry:
        raise ValueError(f"unknown {what} {name!r}; known: {', '.join(registry.names())}")
    return registry.get(name).config_class.model_validate(value)


class AttackConfig(BaseModel):
    """What to mine, where, how, and for how long.

    Attributes:
        prompts: the target prompts: a list, or the path of a text file with one prompt per line.
        image_size: the master image's side (``None``: the scorer's input size).
        objective: aggregation of the per-prompt scores (``min`` as the paper).
        space: ``{name: pixels | linf_ball | vae_latent, ...}``.
        optimizer: ``{name: adam | sgd | pgd | cma | diagonal_cma | one_plus_one, ...}``.
        budget: ``evaluations`` and / or ``seconds``; give it on the command line
            (``--set attack.budget.evaluations=2000``).
        black_box: score-only access to the model (``None``: black-box for nevergrad optimisers,
            white-box for gradient ones).
        start_caption: for ``linf_ball`` without a ``start_image``: a toy-world scene of this caption
            is the start image.
        max_prompts: the most prompts accepted.
        checkpoint_every: seconds between mining checkpoints.
        restarts: independent mining runs, each with the whole budget and its own optimiser key
            (restart 0 is the ordinary run), sharded over the run's processes; the lowest loss wins.
    """

    model_config = ConfigDict(extra="forbid")

    prompts: list[str] | str
    image_size: int | None = Field(None, ge=16)
    objective: ObjectiveConfig = ObjectiveConfig()
    space: SerializeAsAny[SpaceConfig] = Field(
        default_factory=lambda: SPACES.get("vae_latent").config_class()
    )
    optimizer: SerializeAsAny[OptimizerConfig] = Field(
        default_factory=lambda: OPTIMIZERS.get("adam").config_class()
    )
    budget: BudgetConfig | None = None
    black_box: bool | None = None
    start_caption: str = "a large white circle in the center"
    max_prompts: int = Field(MAX_PROMPTS, ge=1)
    checkpoint_every: float = Field(30.0, gt=0)
    restarts: int = Field(1, ge=1, le=1024)

    @field_validator("space", mode="before")
    @classmethod
    def _space(cls, v: Any) -> BaseModel:
        return _dispatch(SPACES, v, "attack.space")

    @field_validator("optimizer", mode="before")
    @classmethod
    def _optimizer(cls, v: Any) -> BaseModel:
        return _dispatch(OPTIMIZERS, v, "attack.optimizer")

    @field_validator("prompts", mode="before")
    @classmethod
    def _prompts(cls, v: Any) -> Any:
        if isinstance(v, Path):
            return str(v)
        if v is None or (isinstance(v, (list, tuple)) and len(v) == 0) or v == "":
            raise ValueError(
                "no target prompts: give attack.prompts as a list or the path of a text file (one prompt per line)"
            )
        return v

    @model_validator(mode="after")
    def _need_budget(self) -> AttackConfig:
        if self.budget is None:
            raise ValueError(
                "no mining budget: set it on the command line, e.g. --set attack.budget.evaluations=2000 "
                "(images scored) and / or --set attack.budget.seconds=600"
            )
        return self

    @property
    def is_black_box(self) -> bool:
        if self.black_box is not None:
            return self.black_box
        return not OPTIMIZERS.get(self.optimizer.name).needs_gradients


class ModelsConfig(BaseModel):
    """
    Attributes:
        clip: the model under attack: ``toy``, ``clip-b32``, ``clip-l14``, a hub id, a folder, or ``dummy``.
        scorer: ``clip`` (cosine) or ``siglip`` (sigmoid scores).
        vae: the decoder of the ``vae_latent`` space: ``toy``, ``sd15``, a hub id, a folder, or ``dummy``.
        transfer_clip: a second model the master image is evaluated on (``None``: no transfer test);
            ``dummy`` builds a random-weight CLIP from another seed.
    """

    model_config = ConfigDict(extra="forbid")

    clip: str = "toy"
    scorer: Literal["clip", "siglip"] = "clip"
    vae: str = "toy"
    transfer_clip: str | None = None


class DetectorEvalConfig(BaseModel):
    """Train a detector on mined master images and real scenes, test it on held-out ones.

    Attributes:
        detector: the classifier.
        train_set: mining settings of the training master images (random prompt subsets).
        test_set: of the held-out master images (other subsets, other starts).
        real_train: real scenes to train on; real_test: held-out real scenes (the FPR is set on these).
        space: the space the detector's master images are mined in (``None``: the attack's).
    """

    model_config = ConfigDict(extra="forbid")

    detector: DetectorConfig = DetectorConfig()
    train_set: DetectorSetConfig = DetectorSetConfig()
    test_set: DetectorSetConfig = DetectorSetConfig(images=32)
    real_train: int = Field(512, ge=2)
    real_test: int = Field(512, ge=100)
    fpr: float = Field(0.01, gt=0, lt=1)


class EvaluationConfig(BaseModel):
    """
    Attributes:
        real_per_prompt: real images per prompt (toy world: rendered scenes of the prompt's class).
        world_seed: seed of the toy world's scenes; split: which scene stream (``test`` by default).
        distractors: extra random objects per real scene (``[lo, hi]``).
        heldout_prompts: related prompts not mined on (a list or a file); ``None``: derived from the
            targets with ``heldout_templates``.
        heldout_templates: ``"{}"`` is the target without its article (``"a large {}"``).
        shift: the modality-gap shift (``None``: not evaluated).
        zero_shot_prompts: class prompts of the zero-shot accuracy the shift costs (``None``: the toy
            world's 48 colour-shape classes).
        zero_shot_per_class: toy scenes per class for that accuracy and for the modality gap (val split).
        detector: detector evaluation (``None``: not evaluated).
    """

    model_config = ConfigDict(extra="forbid")

    real_per_prompt: int = Field(64, ge=1)
    world_seed: int = 0
    split: Literal["train", "val", "test"] = "test"
    distractors: tuple[int, int] = (0, 0)
    heldout_prompts: list[str] | str | None = None
    heldout_templates: list[str] = ["a large {}", "a small {}", "a photo of a {}"]
    shift: float | None = Field(0.25, gt=0, le=1)
    zero_shot_prompts: list[str] | str | None = None
    zero_shot_per_class: int = Field(16, ge=1)
    detector: DetectorEvalConfig | None = None
