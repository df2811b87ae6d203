"""``smoke``: generate a few images with random-weight components, score, report.

The smallest complete run (seconds on a CPU); it exercises run folders, per-item generators, the
checkpoint API, metrics and the report, and is what the resume and determinism tests run.
"""

from __future__ import annotations

from typing import Literal

from workbench.config import ExperimentConfig
from workbench.experiments import register_experiment
from workbench.runs import RunContext

from .job import run_generation_job
from .sections import GenerateSection, ScoreSection


class SmokeConfig(ExperimentConfig):
    """Config of the ``smoke`` experiment (see :class:`GenerateSection`, :class:`ScoreSection`)."""

    experiment: Literal["smoke"] = "smoke"
    generate: GenerateSection = GenerateSection()
    score: ScoreSection = ScoreSection()


@register_experiment("smoke", config=SmokeConfig)
def run(ctx: RunContext, cfg: SmokeConfig) -> None:
    """Generate images with random-weight components, CLIP-score them, report."""
    run_generation_job(ctx, cfg.generate, cfg.score)
