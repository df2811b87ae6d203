"""The with/without-boxes evaluation of the toy GLIGEN over seeds (:mod:`generators.layout.grounding_eval`):
per seed, fresh held-out prompts and noise; results saved per seed and method, then mean ± SE over seeds.

    workbench layout eval-gligen --model ~/.cache/workbench/toy-train/gligen/checkpoint.pt --seeds 1 2 3
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .gligen.pipeline import BOX_ATTENTION_BETA
from .grounding_eval import EVAL_WORLD_SEED, Words, grounding_cases, score_grounding, stock_pipeline

__all__ = ["default_beta", "grounding_pipelines", "mean_se", "run_grounding_eval"]

PAPER_BETA = 0.5  # the paper's fusers in evaluation: grounding tokens in the first half of the steps


def default_beta(model: Path | None) -> float:
    """The scheduled-sampling share ``eval-gligen`` uses unless told: :data:`BOX_ATTENTION_BETA` for a model
    trained with box-masked grounding attention (a checkpoint or adapter that says so), else
    :data:`PAPER_BETA` (default model: the shipped :data:`~generators.layout.gligen.model.GLIGEN_DIR`)."""
    from .gligen.adapter import is_adapter_folder, read_adapter
    from .gligen.box_attention import checkpoint_has_box_attention
    from .gligen.model import GLIGEN_DIR

    if model is not None and model.suffix == ".pt":
        state = torch.load(model, map_location="cpu", weights_only=True)
        boxed = checkpoint_has_box_attention(state["trainer"])
    else:
        folder = model if model is not None else GLIGEN_DIR
        boxed = is_adapter_folder(folder) and bool(read_adapter(folder).get("box_attention", False))
    return BOX_ATTENTION_BETA if boxed else PAPER_BETA


def grounding_pipelines(model: Path | None, with_boxes: bool, without_boxes: bool) -> tuple[Any, Any]:
    """``(gligen_pipe, sd_pipe)`` on the toy SD: the grounded model from an exported folder or a training
    ``checkpoint.pt`` (its EMA weights), and the toy SD alone; ``None`` for the side not asked for."""
    from .gligen.box_attention import checkpoint_has_box_attention
    from .gligen.pipeline import load_gligen_pipeline
    from .gligen.positional import checkpoint_has_token_positions
    from .train_gligen import GligenTrainer, load_toy_sd  # deferred: diffusers

    base = load_toy_sd()
    gligen = None
    if with_boxes:
        if model is not None and model.suffix == ".pt":
            state = torch.load(model, map_location="cpu", weights_only=True)
            positional = checkpoint_has_token_positions(state["trainer"]["grounding"])
            trainer = GligenTrainer(
                sd_pipe=base,
                base_name="toy",
                eval_images=0,
                token_positions=positional,
                box_attention=checkpoint_has_box_attention(state["trainer"]),
                class_phrases=bool(
                    state["trainer"].get("class_phrases", False)
                ),  # recorded; no weight tells it
            )
            trainer.load_state_dict(state["trainer"])
            gligen = trainer.pipeline()
        else:
            from diffusers import DDIMScheduler

            from workbench.runtime import Runtime

            gligen = load_gligen_pipeline(model, Runtime(seed=0, device="cpu"), base=base)
            gligen.scheduler = DDIMScheduler.from_config(base.scheduler.config)
    return gligen, stock_pipeline(base, torch.device("cpu")) if without_boxes else None


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error (sample standard deviation / sqrt(n); 0 for one value)."""
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


def run_grounding_eval(
    model: Path | None,
    seeds: Sequence[int],
    n_prompts: int,
    out_dir: Path,
    methods: Sequence[str] = ("with_boxes", "without_boxes"),
    words: Words = "full",
    num_inference_steps: int = 20,
    scheduled_sampling_beta: float | None = None,
) -> dict[str, Any]:
    """Per seed ``s``: ``n_prompts`` held-out two-object scenes of world seed ``EVAL_WORLD_SEED + s`` and
    noise seed ``s``, scored for each method; one JSON per seed and method in ``out_dir`` (a seed already
    scored there is read back), then mean ± SE over the seeds of every result found there.
    ``scheduled_sampling_beta``: ``None`` takes :func:`default_beta` of the model."""
    from .experiment import load_judge  # deferred: PIL

    unknown = sorted(set(methods) - {"with_boxes", "without_boxes"})
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; allowed: with_boxes, without_boxes")
    judge = load_judge(None, required=False)
    if judge is None:
        raise FileNotFoundError("the toy judge is not trained: run `workbench toy train judge` first")
    if scheduled_sampling_beta is None:
        scheduled_sampling_beta = default_beta(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = f"{words}-{num_inference_steps}steps-beta{scheduled_sampling_beta:g}-{n_prompts}prompts"
    todo = [(s, m) for s in seeds for m in methods if not (out_dir / f"{m}-{tag}-seed{s}.json").is_file()]
    if todo:
        gligen, sd = grounding_pipelines(
            model, any(m == "with_boxes" for _, m in todo), any(m == "without_boxes" for _, m in todo)
        )
        for s, m in todo:
            cases = grounding_cases(n_prompts, EVAL_WORLD_SEED + s, words)
            res = score_grounding(
                cases,
                judge,
                gligen_pipe=gligen if m == "with_boxes" else None,
                sd_pipe=sd if m == "without_boxes" else None,
                noise_seed=s,
                num_inference_steps=num_inference_steps,
                scheduled_sampling_beta=scheduled_sampling_beta,
            )[m]
            info = {"seed": s, "method": m, "model": str(model), "tag": tag, **res}
            (out_dir / f"{m}-{tag}-seed{s}.json").write_text(json.dumps(info, indent=2) + "\n")
    table: dict[str, Any] = {"tag": tag, "beta": scheduled_sampling_beta}
    for m in methods:
        rows = [json.loads((out_dir / f"{m}-{tag}-seed{s}.json").read_text()) for s in seeds]
        per_seed = {r["seed"]: r["all_in_box"] for r in rows}
        mean, se = mean_se(list(per_seed.values()))
        table[m] = {"all_in_box_mean": mean, "all_in_box_se": se, "per_seed": per_seed}
        for key in ("all_present", "mean_iou"):  # what fails: drawing the objects, or placing them
            table[m][f"{key}_mean"], table[m][f"{key}_se"] = mean_se([r[key] for r in rows])
    if "with_boxes" in table and "without_boxes" in table:
        gains = [table["with_boxes"]["per_seed"][s] - table["without_boxes"]["per_seed"][s] for s in seeds]
        mean, se = mean_se(gains)
        table["gain"] = {"mean": mean, "se": se, "per_seed": dict(zip(seeds, gains))}
    return table
