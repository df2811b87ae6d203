"""The ``entity-draw-bench`` experiment: the toy EntityDrawBench of retrieval-augmented generation.

For every prompt (a named entity placed in a scene, entities bucketed frequent / rare / unseen by how
often the toy generator saw them), images are generated without retrieval and with the ``k`` neighbours
retrieved from the knowledge base (the toy entity catalogue, built in the run folder unless one is given),
for each conditioning mode (training-free reference attention; the trained conditioner when an export is
given) and guidance scheme (single; interleaved at ``ratio``), plus the interleaving ratio sweep. Images of
one prompt share their initial noise across methods. The report holds the per-bucket table (entity
fidelity by the judge, CLIP-I of the entity region against the base's reference, CLIP-T), the issue's
claims checked against the numbers, the ratio-sweep plot and image grids.

Run it with ``workbench run examples/retrieval_entitydrawbench.yaml``; every batch is checkpointed
(``workbench run --resume RUN_DIR`` continues a killed run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from generators.retrieval.blend import BlendConfig
from generators.retrieval.boxes import prompt_box
from generators.retrieval.entitydraw import (
    BenchPrompt,
    claims,
    make_prompts,
    reference_crops,
    score_images,
    summarize,
)
from generators.retrieval.guidance import GuidanceConfig
from generators.retrieval.index import IndexSettings
from generators.retrieval.sources import ToyEntitySource
from toyworld.judge import ShapesJudge
from toyworld.presets import MODELS_DIR
from workbench.config import ExperimentConfig
from workbench.experiments import register_experiment
from workbench.generation import GenerationRequest, build_generator
from workbench.loading.choice import build_clip, build_sd_pipeline
from workbench.runs import RunContext
from workbench.runs.items import map_items
from workbench.sampling import SamplingSection

__all__ = ["EntityDrawBenchConfig", "run_entity_draw_bench"]

Bucket = Literal["frequent", "rare", "unseen"]
RETRIEVAL_EXPORT = MODELS_DIR / "sd-retrieval"
# the trained retrieval pipeline run without neighbours (its null tokens): the ablation of the same weights
NO_RETRIEVAL = "conditioned/none"


class ModelsSection(BaseModel):
    """Models: ``auto`` is the trained toy model when present, else random-weight dummy components.

    Args:
        sd: the generator (``auto``, ``dummy``, ``toy``, a hub id or folder).
        clip: the knowledge base's and the scores' CLIP (``auto``, ``dummy``, ``toy``, hub id, folder).
        judge: ``auto`` (the trained toy judge if present), ``none`` or a judge folder.
        conditioned: export folder of a trained retrieval pipeline for mode ``conditioned`` (``auto``: the
            shipped toy one if present).
        image_size: generated side in pixels (``None``: the generator's).
    """

    model_config = ConfigDict(extra="forbid")

    sd: str = "auto"
    clip: str = "auto"
    judge: str = "auto"
    conditioned: str = "auto"
    image_size: int | None = None


class KnowledgeBaseSection(BaseModel):
    """The knowledge base: ``path`` of an existing one, or the toy entity catalogue built in the run."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    views_per_entity: int = Field(default=8, ge=1)
    seed: int = 0
    index: IndexSettings = IndexSettings()


class BenchSection(BaseModel):
    """Prompts and batching (sampling is the ``generation`` section)."""

    model_config = ConfigDict(extra="forbid")

    buckets: list[Bucket] = ["frequent", "rare", "unseen"]
    entities_per_bucket: int | None = Field(default=4, ge=1)
    prompts_per_entity: int = Field(default=2, ge=1)
    others: tuple[int, int] = (0, 2)
    batch_size: int = Field(default=8, ge=1)
    prompt_seed: int = 7


class RetrievalSection(BaseModel):
    """Retrieval and conditioning.

    Args:
        k: neighbours per prompt.
        target: ``text`` (text-to-text retrieval by CLIP embeddings), ``bm25`` (text-to-text by the words)
            or ``image`` (text-to-image).
        modes: conditioning modes to measure (``conditioned`` needs ``models.conditioned``; ``blend`` puts
            the top neighbour's subject in the box the shapes planner reads from the prompt, single guidance).
        layers: reference-attention layers (preset or patterns).
        reference_weight: logit bias inside the neighbours' boxes.
    """

    model_config = ConfigDict(extra="forbid")

    k: int = Field(default=4, ge=1)
    target: Literal["text", "image", "bm25"] = "bm25"
    modes: list[Literal["reference", "conditioned", "blend"]] = ["reference", "conditioned"]
    layers: str | list[str] = "decoder"
    reference_weight: float = 0.0
    blend: BlendConfig = BlendConfig()


class GuidanceSection(BaseModel):
    """Guidance schemes and the interleaving ratio sweep (run on the first available mode); the text
    guidance scale is ``generation.guidance_scale``."""

    model_config = ConfigDict(extra="forbid")

    retrieval_guidance_scale: float | None = Field(default=None, ge=0.0)
    schemes: list[Literal["single", "interleaved"]] = ["single", "interleaved"]
    ratio: float = Field(default=0.5, ge=0.0, le=1.0)
    ratio_sweep: list[float] = [0.0, 0.25, 0.5, 0.75, 1.0]


class EntityDrawBenchConfig(ExperimentConfig):
    """Config of ``entity-draw-bench`` (``generation``: steps and guidance scale; unset, the workbench's)."""

    experiment: Literal["entity-draw-bench"] = "entity-draw-bench"
    models: ModelsSection = ModelsSection()
    knowledge_base: KnowledgeBaseSection = KnowledgeBaseSection()
    bench: BenchSection = BenchSection()
    generation: SamplingSection = SamplingSection()
    retrieval: RetrievalSection = RetrievalSection()
    guidance: GuidanceSection = GuidanceSection()


# ---------------------------------------------------------------------------------------------- models
def _load_models(ctx: RunContext, cfg: EntityDrawBenchConfig) -> dict[str, Any]:
    from generators.retrieval.embedder import ClipEmbedder  # deferred: torchmetrics

    # deferred: torchmetrics, transformers
    from generators.retrieval.pipeline_retrieval import RetrievalAugmentedPipeline
    from metrics.embedding import CLIPImageScore, CLIPTextScore  # deferred: torchmetrics

    rt = ctx.runtime
    pipe, sd_source = build_sd_pipeline(cfg.models.sd, rt, cfg.models.image_size)
    pipe.set_progress_bar_config(disable=True)
    clip_model, processor, clip_source = build_clip(cfg.models.clip, rt)
    models: dict[str, Any] = {
        "pipelines": {
            "none": RetrievalAugmentedPipeline.from_pipe(pipe),
            "reference": RetrievalAugmentedPipeline.from_pipe(pipe),
            "blend": RetrievalAugmentedPipeline.from_pipe(pipe),
        },
        "sources": {"sd": sd_source, "clip": clip_source},
        "embedder": ClipEmbedder(clip_model, processor, name=clip_source),
        "clip_i": CLIPImageScore(clip_model, processor, model_name=clip_source, sync_on_compute=False),
        "clip_t": CLIPTextScore(clip_model, processor, model_name=clip_source, sync_on_compute=False),
        "judge": None,
    }
    judge_dir = MODELS_DIR / "judge" if cfg.models.judge == "auto" else Path(cfg.models.judge)
    if cfg.models.judge != "none" and (judge_dir / "config.json").is_file():
        models["judge"] = ShapesJudge.from_pretrained(judge_dir).eval().to(rt.device)
        models["sources"]["judge"] = str(judge_dir)
    elif cfg.models.judge not in ("auto", "none"):
        raise FileNotFoundError(
            f"models.judge: no judge at {str(judge_dir)!r} (no config.json); use 'auto' or 'none'"
        )
    export = RETRIEVAL_EXPORT if cfg.models.conditioned == "auto" else Path(cfg.models.conditioned)
    if "conditioned" in cfg.retrieval.modes and (export / "model_index.json").is_file():
        cond = RetrievalAugmentedPipeline.from_export(export).to(rt.device)
        cond.set_progress_bar_config(disable=True)
        models["pipelines"]["conditioned"] = cond
        models["sources"]["conditioned"] = str(export)
    elif "conditioned" in cfg.retrieval.modes and cfg.models.conditioned != "auto":
        raise FileNotFoundError(
            f"models.conditioned: no retrieval export at {str(export)!r}; train one or use 'auto'"
        )
    for p in models["pipelines"].values():
        p.set_progress_bar_config(disable=True)
    return models


def _knowledge_base(ctx: RunContext, cfg: EntityDrawBenchConfig, embedder: Any):
    from generators.retrieval.knowledge_base import KnowledgeBase  # deferred: torchmetrics

    section = cfg.knowledge_base
    if section.path is not None:
        return KnowledgeBase.open(section.path, embedder, index=section.index)
    source = ToyEntitySource(section.views_per_entity, seed=section.seed)
    return KnowledgeBase.build(ctx.dir / "kb", source, embedder, index=section.index, runtime=ctx.runtime)


def _methods(cfg: EntityDrawBenchConfig, modes: list[str]) -> dict[str, tuple[str | None, GuidanceConfig]]:
    """``{key: (mode or None, guidance)}``: the baseline, each mode x scheme, and the ratio sweep."""
    g = cfg.guidance
    common = {
        "guidance_scale": cfg.generation.guidance_scale,
        "retrieval_guidance_scale": g.retrieval_guidance_scale,
    }
    out: dict[str, tuple[str | None, GuidanceConfig]] = {"none/single": (None, GuidanceConfig(**common))}
    if "conditioned" in modes:  # the trained pipeline with retrieval off (its null tokens): the same weights
        out[NO_RETRIEVAL] = ("conditioned", GuidanceConfig(**common))
    for mode in modes:
        if "single" in g.schemes:
            out[f"{mode}/single"] = (mode, GuidanceConfig(**common))
        if "interleaved" in g.schemes and mode != "blend":
            out[f"{mode}/interleaved-{g.ratio:.2f}"] = (
                mode,
                GuidanceConfig(scheme="interleaved", ratio=g.ratio, **common),
            )
    swept = [m for m in modes if m != "blend"]
    if swept:
        for r in g.ratio_sweep:
            out.setdefault(
                f"{swept[0]}/interleaved-{r:.2f}",
                (swept[0], GuidanceConfig(scheme="interleaved", ratio=r, **common)),
            )
    return out


def _target_boxes(prompts: list[BenchPrompt]) -> list[tuple[float, float, float, float]]:
    """The box of each prompt's entity as the shapes planner reads it from the prompt's words."""
    boxes = [prompt_box(p.prompt, p.entity) for p in prompts]
    for p, box in zip(prompts, boxes):
        if box is None:
            raise ValueError(f"the shapes planner finds no {p.entity!r} in {p.prompt!r}")
    return boxes


# ---------------------------------------------------------------------------------------------- run
@register_experiment("entity-draw-bench", config=EntityDrawBenchConfig)
def run_entity_draw_bench(ctx: RunContext, cfg: EntityDrawBenchConfig) -> None:
    """Toy EntityDrawBench: entity fidelity with and without retrieval, per bucket and guidance scheme."""
    from generators.retrieval.retriever import retrieve  # deferred: torchmetrics

    rt = ctx.runtime
    models = _load_models(ctx, cfg)
    kb = _knowledge_base(ctx, cfg, models["embedder"])
    ctx.logger.info("knowledge base: %s", kb.describe())
    prompts = make_prompts(
        cfg.bench.buckets,
        cfg.bench.entities_per_bucket,
        cfg.bench.prompts_per_entity,
        cfg.bench.prompt_seed,
        cfg.bench.others,
    )
    neighbours = retrieve(kb, [p.prompt for p in prompts], k=cfg.retrieval.k, target=cfg.retrieval.target)
    hit = [float(any(m.get("entity") == p.entity for m in n.meta)) for p, n in zip(prompts, neighbours)]
    modes = [m for m in cfg.retrieval.modes if m in models["pipelines"]]
    methods = _methods(cfg, modes)
    references = reference_crops(kb, sorted({p.entity for p in prompts}))
    targets = _target_boxes(prompts) if "blend" in modes else None

    images: dict[str, torch.Tensor] = {}
    rows_by_method: dict[str, list[dict[str, Any]]] = {}
    batches = [
        list(range(s, min(s + cfg.bench.batch_size, len(prompts))))
        for s in range(0, len(prompts), cfg.bench.batch_size)
    ]
    for key, (mode, guidance) in methods.items():
        pipe = models["pipelines"][mode or "none"]
        retrieving = mode is not None and key != NO_RETRIEVAL

        generator = build_generator(
            f"retrieval_{mode}" if mode else "retrieval_reference",
            pipe,
            {
                "guidance": guidance,
                "layers": cfg.retrieval.layers,
                "reference_weight": cfg.retrieval.reference_weight,
                "blend": cfg.retrieval.blend,
                "retrieve": retrieving,
                "reference_seed": cfg.seed,
            },
        )

        def compute(b: int, generator=generator):
            idx = batches[b]
            conditions: dict[str, list[Any]] = {"neighbours": [neighbours[i] for i in idx]}
            if targets is not None:
                conditions["target_boxes"] = [targets[i] for i in idx]
            request = GenerationRequest(
                [prompts[i].prompt for i in idx],
                [rt.generator("image", i) for i in idx],
                num_inference_steps=cfg.generation.num_inference_steps,
                height=cfg.models.image_size,
                width=cfg.models.image_size,
                conditions=conditions,
            )
            with rt.autocast():
                out = generator(request)  # (b, 3, H, W)
            return {"images": out}, {"indices": idx}

        results = map_items(ctx, [f"{key}/batch-{b:05d}" for b in range(len(batches))], compute, desc=key)
        images[key] = torch.cat([tensors["images"] for tensors, _ in results])  # (N, 3, H, W)
        rows = score_images(
            images[key], prompts, models["judge"], models["clip_i"], models["clip_t"], references
        )
        for row in rows:
            row["retrieval_hit"] = hit[row["index"]] if retrieving else None
        rows_by_method[key] = rows
    _report(ctx, cfg, models, kb, prompts, methods, images, rows_by_method)


# ---------------------------------------------------------------------------------------------- report
def _report(ctx, cfg, models, kb, prompts: list[BenchPrompt], methods, images, rows_by_method) -> None:
    table = summarize(rows_by_method)
    ctx.log_metrics(
        {
            f"{r['method']}.{r['bucket']}": {
                k: r[k] for k in ("fidelity", "clip_i", "clip_t", "retrieval_hit") if r[k] is not None
            }
            for r in table
        }
    )
    for key in images:
        for n, im in enumerate(images[key]):
            ctx.save_image(f"images/{key.replace('/', '_')}/{n:04d}", im)
    ctx.save_json("scores", rows_by_method)
    r = ctx.report
    src = models["sources"]
    dummy = any("dummy" in str(v) for v in src.values())
    r.add_text(
        f"Generator **{src['sd']}**, CLIP **{src['clip']}**, judge **{src.get('judge', 'none (not trained: no fidelity by the judge)')}**"
        + (
            f", trained retrieval pipeline **{src['conditioned']}**"
            if "conditioned" in src
            else ", no trained retrieval pipeline (mode `conditioned` skipped)"
        )
        + f".\n\nKnowledge base: {len(kb)} entries ({kb.manifest.embedder.name}, index {kb.index_settings.kind}). "
        f"{len(prompts)} prompts, k = {cfg.retrieval.k} (text-to-{cfg.retrieval.target} retrieval), "
        f"{cfg.generation.num_inference_steps} steps, CFG {cfg.generation.guidance_scale}, seed {cfg.seed}."
        + ("\n\n**Random-weight components**: the numbers exercise the code path only." if dummy else ""),
        title="EntityDrawBench (toy)",
    )
    r.add_table(
        "Per bucket (fidelity and retrieval hit in %)",
        table,
        caption="fidelity: the judge finds the entity; clip_i: entity region vs the base's reference; clip_t: image vs prompt; retrieval_hit: the neighbours include the entity",
    )
    # against the stock generator, and the trained pipeline against itself with retrieval off
    checked = claims(table) + claims(table, baseline=NO_RETRIEVAL, prefix="conditioned/")
    if checked:
        r.add_table("Claims: retrieval vs none (points of fidelity)", checked)
    else:
        r.add_text(
            "No fidelity by the judge in this run, so the claims (points of fidelity) are not checked.",
            title="Claims",
        )
    _sweep_plot(ctx, cfg, table, methods)
    first = {}
    for p in prompts:
        first.setdefault(p.bucket, p.index)
    for bucket, n in first.items():
        keys = list(images)
        r.add_images(
            f"{bucket}: {prompts[n].prompt}",
            [images[k][n] for k in keys],
            captions=keys,
            ncols=min(len(keys), 8),
        )


def _sweep_plot(ctx, cfg, table, methods) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m, g in methods.values() if m and g.scheme == "interleaved"]
    if not modes:
        return
    mode = modes[0]
    points = sorted(
        (g.ratio, key) for key, (m, g) in methods.items() if m == mode and g.scheme == "interleaved"
    )
    if not points:
        return
    metric = "fidelity" if any(row["fidelity"] is not None for row in table) else "clip_i"
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, name in zip(axes, (metric, "clip_t")):
        for bucket in cfg.bench.buckets:
            values = {row["method"]: row[name] for row in table if row["bucket"] == bucket}
            xs = [x for x, key in points if values.get(key) is not None]
            ys = [values[key] for x, key in points if values.get(key) is not None]
            line = ax.plot(xs, ys, marker="o", label=f"{bucket} interleaved")[0]
            single = values.get(f"{mode}/single")
            if single is not None:
                ax.axhline(single, ls="--", color=line.get_color(), alpha=0.6, label=f"{bucket} single")
            none = values.get("none/single")
            if none is not None:
                ax.axhline(none, ls=":", color=line.get_color(), alpha=0.4)
        ax.set_xlabel("interleaving ratio (fraction of text-enhanced steps)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{mode}: interleaved vs single guidance (dotted: no retrieval)")
    ctx.report.add_figure("Guidance ratio sweep", fig)
    plt.close(fig)
