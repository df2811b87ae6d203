"""The toy world in experiments: the ``toy-eval`` experiment and the tour's ``toy_world`` step."""

from __future__ import annotations

from typing import Literal

from workbench.config import ExperimentConfig
from workbench.experiments import register_experiment
from workbench.experiments_builtin.tour import register_tour_step
from workbench.runs import RunContext

from .evaluate.run import evaluate_all
from .train.registry import MODELS_DIR
from .world import ShapesWorld, parse_caption


class ToyEvalConfig(ExperimentConfig):
    """Config of ``toy-eval``: every shipped toy model on held-out scenes of ``eval_seed``."""

    experiment: Literal["toy-eval"] = "toy-eval"
    eval_seed: int = 999
    n: int = 500
    sections: list[Literal["judge", "clip", "vae", "sd", "captioner"]] = [
        "judge",
        "clip",
        "vae",
        "sd",
        "captioner",
    ]


@register_experiment("toy-eval", config=ToyEvalConfig)
def run_toy_eval(ctx: RunContext, cfg: ToyEvalConfig) -> None:
    result = evaluate_all(seed=cfg.eval_seed, n=cfg.n, sections=tuple(cfg.sections), runtime=ctx.runtime)
    flat = {f"{k}.{m}": v for k, d in result.items() if isinstance(d, dict) for m, v in d.items()}
    ctx.log_metrics(flat)
    ctx.report.add_metrics(flat, title="Toy models on held-out scenes")


@register_tour_step("toy_world")
def tour_toy_world(ctx: RunContext, result) -> None:
    """Show the shapes world, and score the tour's images by the judge when it is trained."""
    world = ShapesWorld(64)
    batch = world.batch(ctx.runtime.seed, "val", 0, 8, n_objects=(1, 3), entity_prob=0.2)
    ctx.report.add_images(
        "The shapes world (validation scenes)", list(batch.images), captions=batch.captions, ncols=4
    )
    judge_dir = MODELS_DIR / "judge"
    if not (judge_dir / "config.json").exists():
        ctx.report.add_text(
            "The judge is not trained yet: composition scores are skipped.", title="Composition"
        )
        return
    from .judge import ShapesJudge  # deferred: diffusers
    from .judge.geneval import as_rows, score_images, summarize  # deferred: diffusers, scipy

    scorable = [i for i, p in enumerate(result.prompts) if parse_caption(p)]
    if not scorable:
        return
    judge = ShapesJudge.from_pretrained(judge_dir).eval()
    scores = score_images(judge, result.images[scorable], [result.prompts[i] for i in scorable])
    summary = {f"composition.{k}": v for k, v in summarize(scores).items()}
    ctx.log_metrics(summary)
    ctx.report.add_table(f"Composition by the judge ({result.source})", as_rows(scores))
