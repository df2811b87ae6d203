"""Typed config of ``master-prints-vs-retrieval`` (defaults in one place: here)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from apps.studies.mining import MiningSection
from attacks.masterprints.mitigations.detector import DetectorConfig
from attacks.masterprints.mitigations.detector_data import DetectorSetConfig
from generators.retrieval.index import IndexSettings
from workbench.config import ConfigSection, ExperimentConfig
from workbench.sampling import SamplingSection

__all__ = ["PoisoningConfig"]


class ModelsSection(ConfigSection):
    """Models: ``auto`` is the trained toy model when present, else random-weight dummy components.

    Args:
        clip: the knowledge base's CLIP, the one the master images are mined against (``auto``, ``toy``,
            ``dummy``, a preset, hub id or folder).
        sd: the retrieval-augmented generator's Stable Diffusion.
        judge: ``auto``, ``none`` or a judge folder (entity fidelity).
        image_size: generated side (``None``: the generator's).
    """

    clip: str = "auto"
    sd: str = "auto"
    judge: str = "auto"
    image_size: int | None = None


class BaseSection(ConfigSection):
    """The clean knowledge base: the toy entity catalogue and toy scenes (near duplicates are skipped)."""

    views_per_entity: int = Field(16, ge=1)
    scenes: int = Field(600, ge=0)
    seed: int = 0
    index: IndexSettings = IndexSettings()


class DefenceSection(ConfigSection):
    """The defences, measured at the largest mining budget.

    Args:
        detector: train the master-image detector (on its own master images, mined on the toy class
            prompts, not the attacker's) and screen at insertion and at query time.
        detector_set: the detector's training master images.
        detector_model: its features and training.
        real_train: real toy scenes it is trained on; ``real_test`` more set its threshold at ``fpr``.
        window: the query-time screen looks at this many results per query.
        shifts: modality-gap shifts in the retriever (the paper: 0.25).
    """

    detector: bool = True
    detector_set: DetectorSetConfig = DetectorSetConfig(images=16, prompts_per_image=10, steps=40, batch=16)
    detector_model: DetectorConfig = DetectorConfig()
    real_train: int = Field(128, ge=2)
    real_test: int = Field(200, ge=2)
    fpr: float = Field(0.01, gt=0, lt=1)
    window: int = Field(16, ge=1)
    shifts: list[Annotated[float, Field(gt=0, le=1)]] = Field(default_factory=lambda: [0.25, 0.5])


class RagSection(SamplingSection):
    """Downstream: retrieval-augmented generation (training-free reference attention) with the clean and
    the poisoned base, on held-out entities (scene prompts) and held-out classes (the class query);
    text-to-image retrieval of the prompt (see :mod:`apps.studies.poisoning.rag`). Steps and guidance scale:
    the workbench's sampling defaults unless set."""

    enabled: bool = True
    entities: int = Field(4, ge=0)
    classes: int = Field(4, ge=0)
    prompts_per_entity: int = Field(1, ge=1)
    k: int = Field(2, ge=1)
    batch_size: int = Field(8, ge=1)


class PoisoningConfig(ExperimentConfig):
    """Config of ``master-prints-vs-retrieval``.

    Args:
        seeds: seeds ``seed .. seed + seeds - 1``; each draws its own query split, starting noise and
            detector.
        masters: how many master images are inserted (the first ``k`` of the mined ones, for each ``k``).
        top_k: neighbours per query for the top-k hijack rate and recall.
    """

    experiment: Literal["master-prints-vs-retrieval"] = "master-prints-vs-retrieval"
    seeds: int = Field(3, ge=1)
    models: ModelsSection = ModelsSection()
    knowledge_base: BaseSection = BaseSection()
    mining: MiningSection = MiningSection()
    masters: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [1, 2, 4], min_length=1)
    top_k: int = Field(5, ge=1)
    defences: DefenceSection = DefenceSection()
    rag: RagSection = RagSection()
