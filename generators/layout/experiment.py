"""``layout-eval``: layout-aware generation on the toy world, every method against the toy SD without layout.

Prompts are shapes-world captions with 2, 3 and 4 objects (held-out test scenes); the rule-based planner
turns each into its layout (one box per object, in the named grid cell). Every method generates from the
same per-image seeds; the judge reads each image and :mod:`generators.layout.scoring` measures objects in
their boxes (IoU >= 0.5), IoU with the requested box, relative positions, counts, colours and the
GenEval-style composition; CLIP-T scores the prompt; wall time per image is measured side by side.

    workbench run examples/layout_smoke.yaml      # random weights: the code path, in seconds
    workbench run examples/layout_eval.yaml       # the toy world's numbers (trained toy SD + judge)

The claims checked (``claims.*`` in metrics.json): on two-object prompts, both objects in their boxes at
least 30 points above the stock pipeline, and mean IoU of the found objects >= 0.6, per method; guidance
time per image at most 2x the stock pipeline's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from toyworld.judge import ShapesJudge
from toyworld.vocab import SIZES
from toyworld.world import ShapesWorld, cell_box, scene_rng
from workbench.config import ConfigError, ExperimentConfig
from workbench.experiments import register_experiment
from workbench.generation import build_generator
from workbench.loading import resolve_model
from workbench.loading.choice import build_clip, build_sd_pipeline
from workbench.runs import RunContext
from workbench.runs.items import map_items
from workbench.runtime import Runtime
from workbench.sampling import SamplingSection

from .box_guidance import BoxDiffConfig, BoxGuidanceConfig
from .gcdp.generator import GCDP_DIR, load_gcdp_pipeline
from .gcdp.testing import gcdp_pipeline_from_sd
from .gligen import GLIGEN_DIR, load_gligen_pipeline
from .methods import layout_generators, layout_request
from .planner import ShapesGrammarPlanner
from .regions import RegionsConfig
from .visual import draw_boxes

logger = logging.getLogger(__name__)

__all__ = ["LayoutEvalConfig", "load_judge", "load_layout_model", "run"]

STOCK = "stock"
TRAINING_FREE = ("box_guidance", "boxdiff")
COUNT_NAMES = {2: "two_object", 3: "three_object", 4: "four_object"}


class LayoutModels(BaseModel):
    """Models of the evaluation.

    Args:
        sd: ``auto`` (the toy SD when trained, else random-weight dummy components), ``dummy``, or a preset,
            hub id or pipeline folder.
        judge: ``auto`` (the toy judge when trained, else none), ``none``, ``random`` (code path only) or a folder.
        clip: CLIP for CLIP-T: ``auto``, ``dummy``, ``none``, or a preset / hub id / folder.
        gligen: ``auto`` (the trained toy GLIGEN when present, else the method is skipped and the report says
            so), ``none``, or a ``StableDiffusionGLIGENPipeline`` folder.
        gcdp: the joint image-layout model of the ``gcdp`` / ``gcdp_layout`` methods: ``auto`` (the trained toy
            GCDP when present, else those methods are skipped and the report says so), ``none``, ``dummy``
            (random-weight, started from the SD pipeline's UNet: the code path only) or a ``GCDPPipeline`` folder.
    """

    model_config = ConfigDict(extra="forbid")

    sd: str = "auto"
    judge: str = "auto"
    clip: str = "auto"
    gligen: str = "auto"
    gcdp: str = "auto"


class LayoutPrompts(BaseModel):
    """Evaluation prompts: held-out shapes-world scenes.

    Args:
        counts: number of prompts per object count (2 to 4 objects).
        seed: world seed of the test split.
        size: ``mixed`` keeps the world's sizes, ``large`` / ``small`` sets every object's size.
    """

    model_config = ConfigDict(extra="forbid")

    counts: dict[int, int] = Field(default_factory=lambda: {2: 64, 3: 32, 4: 32})
    seed: int = 999
    size: Literal["mixed", "large", "small"] = "mixed"

    @field_validator("counts")
    @classmethod
    def _counts(cls, value: dict[int, int]) -> dict[int, int]:
        bad = [k for k in value if not 1 <= k <= 4]
        if bad or not value or any(v < 0 for v in value.values()) or sum(value.values()) == 0:
            raise ValueError(f"counts maps object counts 1..4 to prompt counts >= 0 (some > 0), got {value}")
        return dict(sorted(value.items()))


class LayoutEvalConfig(ExperimentConfig):
    """Config of the ``layout-eval`` experiment.

    Args:
        models: see :class:`LayoutModels`.
        prompts: see :class:`LayoutPrompts`.
        methods: registered generators that take a layout (:func:`generators.layout.methods.layout_generators`);
            ``stock`` is the baseline of the claims.
        generation: sampling of every method (unset fields: the workbench's, 25 steps, guidance 5).
        batch_size: prompts per call (and per checkpoint).
        box_guidance, boxdiff: settings of the two training-free guidance methods.
        regions: settings of region fusion.
        gligen_beta: share of steps with grounding tokens (GLIGEN's scheduled sampling; unset: 1 for a
            model with box-masked grounding attention, else GLIGEN's 0.3).
        iou_threshold: IoU with the requested box at which an object counts as in its box.
        grid_images: prompts shown per method in the report.
    """

    experiment: Literal["layout-eval"] = "layout-eval"
    models: LayoutModels = LayoutModels()
    prompts: LayoutPrompts = LayoutPrompts()
    methods: list[str] = Field(
        default_factory=lambda: ["stock", "box_guidance", "boxdiff", "regions", "gligen"]
    )
    generation: SamplingSection = SamplingSection()
    batch_size: int = Field(8, ge=1, le=256)
    box_guidance: BoxGuidanceConfig = Field(default_factory=BoxGuidanceConfig)
    # BoxDiff alters 25 of 50 steps; at 25 steps that is the first 13
    boxdiff: BoxDiffConfig = Field(default_factory=lambda: BoxDiffConfig(guided_steps=13))
    regions: RegionsConfig = RegionsConfig()
    gligen_beta: float | None = Field(None, ge=0.0, le=1.0)
    iou_threshold: float = Field(0.5, gt=0.0, le=1.0)
    grid_images: int = Field(8, ge=0)

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: list[str]) -> list[str]:
        known = layout_generators()
        unknown = [m for m in value if m not in known]
        if unknown or not value:
            raise ValueError(f"unknown or no method(s) {unknown}; allowed values: {', '.join(known)}")
        if len(set(value)) != len(value):
            raise ValueError(f"methods repeat: {value}")
        return value


# ---------------------------------------------------------------------------------------------- models
def load_judge(choice: str | None, runtime: Runtime | None = None, required: bool = True) -> Any | None:
    """The judge for a config choice (``auto``, ``none``, ``random`` or a folder); ``None`` when absent."""
    device = runtime.device if runtime is not None else "cpu"
    choice = choice or "auto"
    if choice == "none":
        return None
    if choice == "random":
        logger.warning("judge: random weights (code path only: its verdicts mean nothing)")
        return ShapesJudge().eval().to(device)
    if choice == "auto":
        resolved = resolve_model("toy", kind="judge")
        if not resolved.available:
            if required:
                logger.warning("toy judge not available (%s): no judge-measured scores", resolved.reason)
            return None
        choice = str(resolved.local_path)
    return ShapesJudge.from_pretrained(choice).eval().to(device)


@dataclass(frozen=True)
class _ModelFamily:
    """How ``models.<family>`` loads: the shipped folder (``auto``), the folder loader, and the random-weight
    pipeline built from the SD pipeline (``dummy``) where the family has one."""

    folder: Path
    load: Callable[[str | Path, Runtime], Any]
    dummy: Callable[[Any], Any] | None = None


_MODEL_FAMILIES: dict[str, _ModelFamily] = {
    "gligen": _ModelFamily(GLIGEN_DIR, load_gligen_pipeline),
    "gcdp": _ModelFamily(GCDP_DIR, load_gcdp_pipeline, gcdp_pipeline_from_sd),
}


def load_layout_model(
    family: str, choice: str, runtime: Runtime, sd_pipe: Any = None
) -> tuple[Any | None, str]:
    """The pipeline of ``models.<family>`` (``gligen`` or ``gcdp``) and a note saying where it came from.

    ``none``: not loaded; ``dummy``: random weights started from ``sd_pipe`` (the code path only; families with
    a random-weight build only); ``auto``: the shipped weights, or ``None`` and why not (the methods are then
    skipped); a folder: loaded from it.

    Raises:
        ValueError: ``dummy`` for a family without a random-weight build.
        FileNotFoundError: a folder that holds no such pipeline.
    """
    spec = _MODEL_FAMILIES[family]
    if choice == "none":
        return None, f"not requested (models.{family}: none)"
    if choice == "dummy":
        if spec.dummy is None:
            raise ValueError(f"models.{family}: dummy is not available; use auto, none or a pipeline folder")
        logger.warning("%s: random-weight model (code path only: its images mean nothing)", family)
        return spec.dummy(sd_pipe).to(runtime.device), "dummy"
    folder = spec.folder if choice == "auto" else choice
    try:
        return spec.load(folder, runtime), str(folder)
    except FileNotFoundError as exc:
        if choice != "auto":
            raise
        return None, str(exc)


# ---------------------------------------------------------------------------------------------- prompts
def eval_scenes(cfg: LayoutPrompts) -> list[Any]:
    """Held-out scenes with 2-4 objects (no named entities), sizes as configured."""
    world = ShapesWorld(64)
    scenes = []
    for n, count in cfg.counts.items():
        for i in range(count):
            scene = world.scene(cfg.seed + n, "test", i, n_objects=n, entity_prob=0.0)
            if cfg.size != "mixed":
                rng = scene_rng(cfg.seed + n, "test", 10_000 + i)
                objs = []
                for o in scene.objects:
                    cell = _cell_of(o.box)
                    box = cell_box(cell, SIZES[cfg.size], rng)
                    objs.append(
                        replace(
                            o, size=cfg.size, texture=o.texture if cfg.size == "large" else "plain", box=box
                        )
                    )
                scene = replace(scene, objects=tuple(objs))
            scenes.append(scene)
    return scenes


def _cell_of(box: tuple[float, float, float, float]) -> int:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return min(int(cy * 3), 2) * 3 + min(int(cx * 3), 2)


# ---------------------------------------------------------------------------------------------- run
@register_experiment("layout-eval", config=LayoutEvalConfig)
def run(ctx: RunContext, cfg: LayoutEvalConfig) -> None:
    """Layout-aware generation on the toy world: box guidance, BoxDiff, region prompts, GLIGEN, GCDP vs stock SD."""
    from .scoring import RequestedObject, score_image, summarize_scores  # deferred: scipy

    rt = ctx.runtime
    # 1. models (a missing model fails here, before any generation)
    sd_pipe, sd_name = build_sd_pipeline(cfg.models.sd, rt)
    judge = load_judge(cfg.models.judge, rt)
    clip = build_clip(cfg.models.clip, rt)
    gligen_pipe, gligen_note = (
        (None, "not requested")
        if "gligen" not in cfg.methods
        else load_layout_model("gligen", cfg.models.gligen, rt)
    )
    options: dict[str, Any] = {
        "box_guidance": cfg.box_guidance,
        "boxdiff": cfg.boxdiff,
        "regions": cfg.regions,
        "gligen": {"scheduled_sampling_beta": cfg.gligen_beta},
    }
    gcdp_methods = [m for m in cfg.methods if m in ("gcdp", "gcdp_layout")]
    gcdp_pipe, gcdp_note = (
        (None, "not requested")
        if not gcdp_methods
        else load_layout_model("gcdp", cfg.models.gcdp, rt, sd_pipe)
    )
    skipped: dict[str, str] = {}
    methods: dict[str, Any] = {}
    for name in cfg.methods:
        if name in gcdp_methods:
            if gcdp_pipe is None:
                skipped[name] = gcdp_note
                logger.warning("method %s skipped: %s", name, gcdp_note)
                continue
            methods[name] = build_generator(name, gcdp_pipe, options.get(name))
            continue
        if name == "gligen":
            if gligen_pipe is None:
                skipped[name] = gligen_note
                logger.warning("method gligen skipped: %s", gligen_note)
                continue
            gligen_pipe.scheduler = type(sd_pipe.scheduler).from_config(sd_pipe.scheduler.config)
            methods[name] = build_generator(name, gligen_pipe, options[name])
            continue
        methods[name] = build_generator(name, sd_pipe, options.get(name))
    if not methods:
        raise ConfigError("methods: nothing left to run (every listed method was skipped)")
    ctx.report.add_text(
        f"SD: `{sd_name}`; judge: `{'none' if judge is None else cfg.models.judge}`; CLIP: "
        f"`{clip[2] if clip else 'none'}`; steps {cfg.generation.num_inference_steps}, CFG {cfg.generation.guidance_scale}."
        + "".join(f"\n\nMethod `{k}` skipped: {v}" for k, v in skipped.items()),
        title="Setup",
    )

    # 2. prompts and their layouts (the planner's boxes are the requested boxes)
    planner = ShapesGrammarPlanner()
    scenes = eval_scenes(cfg.prompts)
    prompts = [s.caption() for s in scenes]
    planned = [planner.objects(p) for p in prompts]
    layouts = [planner.plan(p) for p in prompts]
    regions = [planner.region_prompts(p) for p in prompts]
    ctx.save_json("prompts", [{"prompt": p, "layout": lay.to_json()} for p, lay in zip(prompts, layouts)])

    # 3. generation, method after method within each batch (timed side by side), checkpointed per batch
    batches = [
        list(range(i, min(i + cfg.batch_size, len(prompts)))) for i in range(0, len(prompts), cfg.batch_size)
    ]
    items = [(k, name) for k in range(len(batches)) for name in methods]

    def compute(j: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        k, name = items[j]
        idx = batches[k]
        request = layout_request(
            [prompts[i] for i in idx],
            [layouts[i] for i in idx],
            [regions[i] for i in idx],
            [rt.generator("image", i) for i in idx],
            cfg.generation.num_inference_steps,
            cfg.generation.guidance_scale,
        )
        start = time.perf_counter()
        with rt.autocast():
            images = methods[name](request)
        return {"images": images.float().cpu()}, {"seconds": time.perf_counter() - start}

    keys = [f"{name}/batch-{k:05d}" for k, name in items]
    results = map_items(ctx, keys, compute, desc="layout-eval")
    if not ctx.is_main:
        return
    images_by: dict[str, torch.Tensor] = {}
    seconds_by: dict[str, float] = {}
    for name in methods:
        parts = [
            (tensors["images"], float(meta["seconds"]))
            for (_, n), (tensors, meta) in zip(items, results)
            if n == name
        ]
        images_by[name] = torch.cat([im for im, _ in parts])
        seconds_by[name] = sum(sec for _, sec in parts) / len(prompts)

    # 4. scores
    metrics: dict[str, Any] = {"seconds_per_image": dict(seconds_by)}
    rows = []
    per_method: dict[str, dict[int, dict[str, float]]] = {}
    for name, images in images_by.items():
        entry: dict[str, Any] = {}
        if judge is not None:
            dets: list = []
            for i in range(0, len(images), 64):
                dets += judge.detect(images[i : i + 64].to(rt.device))
            scores = [
                score_image(
                    p,
                    [RequestedObject(o.parsed.shape, o.parsed.color, o.box) for o in objs],
                    d,
                    cfg.iou_threshold,
                )
                for p, objs, d in zip(prompts, planned, dets)
            ]
            ctx.save_json(f"scores/{name}", [s.to_row() for s in scores])
            per_method[name] = {}
            for n in sorted({s.n_objects for s in scores}):
                summary = summarize_scores([s for s in scores if s.n_objects == n])
                per_method[name][n] = summary
                entry[COUNT_NAMES.get(n, f"{n}_object")] = summary
                rows.append({"method": name, "objects": n, **{k: _round(v) for k, v in summary.items()}})
        if clip is not None:
            from metrics import CLIPTextScore  # deferred: torchmetrics

            # the images are gathered already and scored by the main process alone: no sync
            metric = CLIPTextScore(clip[0], clip[1], model_name=clip[2], sync_on_compute=False).to(rt.device)
            for i in range(0, len(images), 32):
                metric.update(images[i : i + 32].to(rt.device), prompts[i : i + 32])
            entry["clip_t"] = float(metric.compute())
        metrics[name] = entry
    stock_s = seconds_by.get(STOCK)
    if stock_s:
        metrics["time_ratio_vs_stock"] = {n: s / stock_s for n, s in seconds_by.items()}
    metrics["claims"] = _claims(per_method, metrics.get("time_ratio_vs_stock", {}))
    ctx.log_metrics(metrics)

    # 5. report
    ctx.report.add_table(
        "Time per image",
        [
            {"method": n, "seconds": round(s, 4), "x stock": round(s / stock_s, 3) if stock_s else None}
            for n, s in seconds_by.items()
        ],
        caption="Wall time of generation only, methods interleaved batch by batch in one run.",
    )
    if rows:
        ctx.report.add_table(
            "Judge-measured layout faithfulness",
            rows,
            caption=f"all_in_box: every object found (shape and colour) with IoU >= {cfg.iou_threshold} to its box; "
            "mean_iou_found: IoU of the found objects' boxes; relations: kept left-of / above relations; "
            "geneval_*: GenEval-style composition (positions by 3x3 grid cell).",
        )
    ctx.report.add_metrics(metrics["claims"], title="Claims")
    _add_grids(ctx, images_by, prompts, layouts, cfg.grid_images)


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def _claims(per_method: dict[str, dict[int, dict[str, float]]], ratios: dict[str, float]) -> dict[str, Any]:
    """The issue's measurable claims, per method (``None`` when not measurable in this run)."""
    out: dict[str, Any] = {}
    stock = per_method.get(STOCK, {}).get(2)
    for name, by_n in per_method.items():
        two = by_n.get(2)
        if name == STOCK or two is None:
            continue
        if stock is not None:
            gain = two["all_in_box"] - stock["all_in_box"]
            out[f"{name}.two_object_gain_in_box"] = gain
            out[f"{name}.two_object_gain_ok"] = gain >= 0.30
        iou = two["mean_iou_found"]
        out[f"{name}.two_object_mean_iou_found"] = iou
        out[f"{name}.two_object_mean_iou_ok"] = iou is not None and iou >= 0.6
    for name in TRAINING_FREE:
        if name in ratios:
            out[f"{name}.time_ratio"] = ratios[name]
            out[f"{name}.time_ratio_ok"] = ratios[name] <= 2.0
    return out


def _add_grids(
    ctx: RunContext, images_by: dict[str, torch.Tensor], prompts: list[str], layouts: list, n: int
) -> None:
    if n <= 0:
        return
    for name, images in images_by.items():
        pick = list(range(min(n, len(images))))
        pics = [draw_boxes(images[i], layouts[i].boxes, scale=max(1, 128 // images.shape[-1])) for i in pick]
        ctx.report.add_images(
            f"{name}: images with their requested boxes", pics, [prompts[i] for i in pick], ncols=4
        )
