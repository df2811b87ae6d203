"""``tour``: the main job on the embedded default, then one step per module that has joined the tour.

It generates images on the toy world (random-weight components until the toy models are trained, which
the log and the report say), scores them, then runs every registered tour step on the result. A module
joins the tour by registering a step in its experiment module::

    from workbench.experiments_builtin.tour import register_tour_step

    @register_tour_step("watermarks")
    def tour_watermarks(ctx, result):  # result: GenerationResult
        ...
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from workbench.config import ConfigError, ExperimentConfig
from workbench.experiments import register_experiment
from workbench.runs import RunContext

from .job import run_generation_job
from .sections import GenerateSection, ScoreSection
from .steps import TOUR_STEPS, TourStep, register_tour_step

__all__ = ["TOUR_STEPS", "TourConfig", "TourStep", "register_tour_step"]


class TourConfig(ExperimentConfig):
    """Config of the ``tour`` experiment.

    Args:
        steps: tour steps to run after generation (``None``: every registered step).
    """

    experiment: Literal["tour"] = "tour"
    generate: GenerateSection = GenerateSection(model="auto", images_per_prompt=2, num_inference_steps=10)
    score: ScoreSection = ScoreSection(clip="auto")
    steps: list[str] | None = Field(default=None)

    @field_validator("steps")
    @classmethod
    def _known_steps(cls, value: list[str] | None) -> list[str] | None:
        unknown = [n for n in value or [] if n not in TOUR_STEPS]
        if unknown:
            raise ValueError(
                f"unknown tour step(s) {unknown}; allowed values: {', '.join(TOUR_STEPS.names()) or '(none)'}"
            )
        return value


@register_experiment("tour", config=TourConfig)
def run(ctx: RunContext, cfg: TourConfig) -> None:
    """The main job on the embedded default (toy world, else random weights), then every tour step."""
    names = TOUR_STEPS.names() if cfg.steps is None else cfg.steps
    unknown = [n for n in names if n not in TOUR_STEPS]
    if unknown:
        raise ConfigError(
            f"steps: unknown tour step(s) {unknown}; allowed values: {', '.join(TOUR_STEPS.names()) or '(none)'}"
        )
    result = run_generation_job(ctx, cfg.generate, cfg.score)
    if result.source.startswith("dummy"):
        ctx.report.add_text(
            "The toy world's models are not trained yet, so this tour ran on **random-weight dummy components**: "
            "the images and scores exercise the code path only. Train them with `workbench toy train ...`.",
            title="Note",
        )
    ctx.report.add_table("Tour steps", [{"step": n} for n in names] or [{"step": "(none registered yet)"}])
    for name in names:
        ctx.logger.info("tour step %s", name)
        TOUR_STEPS.get(name)(ctx, result)
