"""``watermark_bench``: watermark x attack x strength over toy SD generations and scikit-image
photographs, WAVES-style.

For every watermark the clean images are watermarked (post-hoc methods embed; Tree-Ring and
Gaussian Shading generate with their key from the same prompts and initial noise) and decoded
before any attack, which gives the empirical null (clean images) for thresholds at 1 % and 0.1 % FPR.
Then every attack at every strength is applied to the watermarked images, which are decoded and
compared with the un-attacked watermarked images (PSNR, SSIM, LPIPS, CLIP-I) and, for generated
images, checked by the judge (same objects) and against their prompt (caption faithfulness).
Images are 8-bit between steps, as files would be.

Outputs: ``robustness.csv`` (one row per watermark x attack x strength, see
:data:`~attacks.watermarks.bench.report.CSV_COLUMNS`), ``metrics.json``, and a report with the table,
detection at matched SSIM and a quality-vs-detection plot per watermark. One checkpoint per cell:
``workbench run --resume`` recomputes nothing that finished.
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

import torch

from attacks.image import build_attack
from attacks.image.ops import resize
from attacks.watermarks import WATERMARKS, build_watermark
from attacks.watermarks.bench.config import AttackSpec, WatermarkBenchConfig
from attacks.watermarks.bench.models import BenchModels, load_bench_models
from attacks.watermarks.bench.report import (
    at_reference_ssim,
    csv_text,
    curves,
    matched_ssim,
    quality_detection_figure,
    table_rows,
)
from attacks.watermarks.bench.scoring import Scorer, detection_summary
from attacks.watermarks.bench.sources import Sources, build_sources
from workbench.experiments import register_experiment
from workbench.io import atomic_write_text
from workbench.runs import RunContext
from workbench.runs.items import map_items

logger = logging.getLogger(__name__)

CSV_FILE = "robustness.csv"
LATENT_DEFAULTS = ("num_inference_steps", "guidance_scale", "inversion_steps")


def quantize(images: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` [0, 1] -> uint8, as an 8-bit file would store it."""
    return (images.float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()


def dequantize(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255


def _batches(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


# ---------------------------------------------------------------------------------------------- sources
def load_sources(ctx: RunContext, cfg: WatermarkBenchConfig, models: BenchModels) -> Sources:
    """The clean images (computed once, by the main process; checkpoint ``sources``)."""
    with ctx.runtime.main_process_first():
        if not ctx.checkpoint.done("sources"):
            if ctx.is_main:
                src = build_sources(cfg, models.txt2img, ctx.runtime)
                ctx.checkpoint.save(
                    "sources",
                    {"images": quantize(src.images), "generated": src.generated},
                    {"captions": src.captions, "names": src.names},
                )
        tensors, meta = ctx.checkpoint.load("sources")
    return Sources(
        dequantize(tensors["images"]), meta["captions"], tensors["generated"].bool(), meta["names"]
    )


# ---------------------------------------------------------------------------------------------- watermarks
def make_watermark(cfg: WatermarkBenchConfig, name: str, models: BenchModels, runtime):
    options = dict(cfg.watermark_options.get(name, {}))

    if WATERMARKS.get(name).kind == "generation":
        gen = cfg.generation
        defaults = {"num_inference_steps": gen.num_inference_steps, "guidance_scale": gen.guidance_scale}
        defaults["inversion_steps"] = gen.num_inference_steps
        options = {**defaults, **options}
    return build_watermark(name, pipe=models.txt2img, runtime=runtime, seed=cfg.seed, **options)


@torch.no_grad()
def watermark_stage(ctx: RunContext, cfg: WatermarkBenchConfig, wm, src: Sources) -> dict[str, Any]:
    """Watermarked images and the clean-image null of one watermark (checkpoint ``watermark/<name>``)."""
    key = f"watermark/{wm.name}"
    with ctx.runtime.main_process_first():
        if not ctx.checkpoint.done(key) and ctx.is_main:
            start = time.perf_counter()
            if wm.kind == "generation":
                index = [i for i in range(len(src.names)) if bool(src.generated[i])]
            else:
                index = list(range(len(src.names)))
            if not index:
                raise ValueError(
                    f"{wm.name} has no images to run on: a generation-time watermark needs generation.num_images > 0"
                )
            marked, null_scores, null_bits = [], [], []
            for part in _batches(len(index), cfg.batch_size):
                ids = index[part]
                clean = src.images[ids]
                if wm.kind == "generation":
                    gens = [ctx.runtime.generator("source", i, device="cpu") for i in ids]
                    out = wm.generate(prompts=[src.captions[i] for i in ids], generator=gens)
                    out = resize(out, (cfg.image_size, cfg.image_size))
                else:
                    out = wm.embed(clean)
                marked.append(quantize(out))
                bits, scores = wm.analyse(clean)
                null_scores.append(scores.double())
                null_bits.append(bits)
            ctx.checkpoint.save(
                key,
                {
                    "marked": torch.cat(marked),
                    "index": torch.tensor(index),
                    "null_scores": torch.cat(null_scores),
                    "null_bits": torch.cat(null_bits),
                    "payload": wm.payload,
                },
                {"watermark": wm.describe(), "seconds": time.perf_counter() - start},
            )
        tensors, meta = ctx.checkpoint.load(key)
    if not torch.equal(tensors["payload"], wm.payload):
        raise RuntimeError(
            f"checkpoint {key} was made with another payload; start a new run for a changed config"
        )
    return {
        "marked": dequantize(tensors["marked"]),
        "index": tensors["index"].tolist(),
        "null": tensors["null_scores"],
        "meta": meta,
    }


# ---------------------------------------------------------------------------------------------- cells
def codec_of(params: Any) -> str:
    """A readable codec setting from an attack's parameters (JPEG quality and subsampling), or ``""``."""
    if isinstance(params, dict):
        if params.get("codec"):
            return f"{params['codec']} q={params.get('quality')} {params.get('subsampling', '')}".strip()
        return "; ".join(c for c in (codec_of(v) for v in params.values()) if c)
    return ""


@torch.no_grad()
def run_cell(
    ctx: RunContext,
    cfg: WatermarkBenchConfig,
    wm,
    stage: dict[str, Any],
    src: Sources,
    spec: AttackSpec | None,
    strength: float,
    scorer: Scorer,
    models: BenchModels,
) -> dict[str, Any]:
    """Attack, decode and score one (watermark, attack, strength) cell; returns its checkpoint
    ``(tensors, meta)``, the table row in ``meta["row"]``."""
    index = stage["index"]
    marked = stage["marked"]
    label = "none" if spec is None else spec.key
    attack = None
    if spec is not None:
        attack = build_attack(
            spec.name, models=models.attack_models(cfg.model, ctx.runtime), **cfg.attack_config(spec)
        )
        attack = attack.with_strength(strength)
    start = time.perf_counter()
    scores, bits, per_image, examples, captions_used = [], [], [], [], []
    for part in _batches(len(index), cfg.batch_size):
        ids = index[part]
        reference = marked[part]
        if attack is None:
            attacked = reference
        else:
            gens = [
                ctx.runtime.generator("attack", label, f"{strength:g}", src.names[i], device="cpu")
                for i in ids
            ]
            kwargs = {}
            if spec.name == "paraphrase":
                if spec.ground_truth_captions:
                    kwargs["captions"] = ground_truth_captions(
                        attack, reference, [src.captions[i] for i in ids]
                    )
                attacked = attack(reference, gens, **kwargs)
                captions_used += attack.last_captions
            else:
                attacked = attack(reference, gens)
            attacked = dequantize(quantize(attacked))
        b, s = wm.analyse(attacked)
        bits.append(b)
        scores.append(s.double())
        per_image.append(
            scorer.per_image(attacked, reference, [src.captions[i] for i in ids], src.generated[ids])
        )
        if len(examples) < cfg.examples:
            examples.extend(quantize(attacked[: cfg.examples - len(examples)]))
    seconds = time.perf_counter() - start
    scores_t, bits_t = torch.cat(scores), torch.cat(bits)
    metrics = {k: torch.cat([p[k] for p in per_image]) for k in per_image[0]}
    params = attack.parameters() if attack is not None else {}
    row: dict[str, Any] = {
        "watermark": wm.name,
        "kind": wm.kind,
        "attack": label,
        "attack_name": spec.name if spec is not None else "none",
        "strength": strength,
        **detection_summary(stage["null"], scores_t, bits_t, wm.payload, cfg.fprs),
        **{k: _nanmean(v) for k, v in metrics.items()},
        "n_images": len(index),
        "attack_params": json.dumps(params, sort_keys=True),
        "codec": codec_of(params),
        "images_per_s": len(index) / seconds if attack is not None and seconds > 0 else math.nan,
    }
    tensors = {"scores": scores_t, "bits": bits_t, **{k: v for k, v in metrics.items()}}
    if examples:
        tensors["examples"] = torch.stack(examples)
    meta = {"row": row}
    if captions_used:
        meta["captions"] = captions_used
    return tensors, meta


def ground_truth_captions(attack, images: torch.Tensor, prompts: list[str]) -> list[str]:
    """Generation prompts where known; the attack's captioner for the others (photographs)."""
    missing = [i for i, p in enumerate(prompts) if not p]
    if not missing:
        return list(prompts)
    captioned = attack.captions_for(images[missing])
    out = list(prompts)
    for i, c in zip(missing, captioned):
        out[i] = c
    return out


def _nanmean(values: torch.Tensor) -> float:
    values = values.double()
    finite = values[~torch.isnan(values)]
    return float(finite.mean()) if finite.numel() else math.nan


def needed_captioners(cfg: WatermarkBenchConfig) -> list[str]:
    """Captioner names the paraphrase attacks load (none for a user caption, ``none`` or ``fixed:``)."""
    names = set()
    for spec in cfg.attack_specs():
        options = cfg.attack_config(spec)
        if spec.name == "paraphrase" and not options.get("caption"):
            name = options.get("captioner", "toy")
            if name != "none" and not name.startswith("fixed:"):
                names.add(name)
    return sorted(names)


def cell_key(watermark: str, attack: str, strength: float) -> str:
    return f"cell/{watermark}/{attack}/{strength:g}"


def cell_list(cfg: WatermarkBenchConfig) -> list[tuple[str, AttackSpec | None, float]]:
    """Every (watermark, attack spec or None for no attack, strength) of the sweep, in table order."""
    cells: list[tuple[str, AttackSpec | None, float]] = []
    for wm in cfg.watermarks:
        cells.append((wm, None, 0.0))
        for spec in cfg.attack_specs():
            cells.extend((wm, spec, s) for s in cfg.strengths_of(spec))
    return cells


# ---------------------------------------------------------------------------------------------- run
def run_benchmark(
    ctx: RunContext, cfg: WatermarkBenchConfig, models: BenchModels | None = None
) -> list[dict[str, Any]]:
    """Run (or resume) the sweep in ``ctx``; returns the table rows (main process).

    Args:
        models: already loaded models (tests); loaded from ``cfg`` otherwise.
    """
    runtime = ctx.runtime
    if models is None:
        models = load_bench_models(cfg.model, cfg.clip, cfg.judge, needed_captioners(cfg), runtime)
    scorer = Scorer(models.clip, models.judge, cfg.lpips)
    src = load_sources(ctx, cfg, models)
    logger.info("%d clean images (%d generated)", len(src.names), int(src.generated.sum()))

    watermarks = {name: make_watermark(cfg, name, models, runtime) for name in cfg.watermarks}
    stages = {name: watermark_stage(ctx, cfg, wm, src) for name, wm in watermarks.items()}

    cells = cell_list(cfg)
    keys = [cell_key(w, s.key if s else "none", st) for w, s, st in cells]
    done = sum(ctx.checkpoint.done(k) for k in keys)
    logger.info("%d of %d cells to compute (%d done)", len(cells) - done, len(cells), done)

    def compute(i: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        wm_name, spec, strength = cells[i]
        tensors, meta = run_cell(
            ctx, cfg, watermarks[wm_name], stages[wm_name], src, spec, strength, scorer, models
        )
        row = meta["row"]
        logger.info(
            "%s / %s / %g: bit acc %.3f, TPR@1%%FPR %.3f, SSIM %.3f",
            wm_name, row["attack"], strength, row["bit_accuracy"], row["tpr_at_1pct_fpr"], row["ssim"],
        )  # fmt: skip
        return tensors, meta

    results = map_items(ctx, keys, compute, desc="cells")
    if not ctx.is_main:
        return []
    rows = [meta["row"] for _, meta in results]
    atomic_write_text(ctx.dir / CSV_FILE, csv_text(rows))
    write_report(ctx, cfg, rows, src, stages, scorer, models)
    return rows


def write_report(
    ctx: RunContext, cfg, rows, src: Sources, stages, scorer: Scorer, models: BenchModels
) -> None:
    """Metrics, robustness table, matched-SSIM table, plots and example images."""
    summary: dict[str, Any] = {}
    for row in rows:
        prefix = f"{row['watermark']}.{row['attack']}"
        if row["attack"] == "none":
            summary[f"{prefix}.tpr_at_1pct_fpr"] = row["tpr_at_1pct_fpr"]
            summary[f"{prefix}.bit_accuracy"] = row["bit_accuracy"]
        else:  # every attacked cell: what the claims over seeds read
            for key in ("tpr_at_1pct_fpr", "bit_accuracy", "judge_preserved", "ssim"):
                summary[f"{prefix}.{row['strength']:g}.{key}"] = row[key]
    by_cell = curves(rows)
    for wm, by_attack in by_cell.items():
        for attack, items in by_attack.items():
            attacked = items[1:]
            summary[f"{wm}.{attack}.min_tpr_at_1pct_fpr"] = min(r["tpr_at_1pct_fpr"] for r in attacked)
    ctx.log_metrics(summary)
    report = ctx.report
    notes = models.notes + scorer.notes
    n_gen = int(src.generated.sum())
    lines = [
        f"{len(src.names)} clean images at {cfg.image_size} px: {n_gen} generated by `{cfg.model}` "
        f"({cfg.generation.num_inference_steps} DDIM steps, guidance {cfg.generation.guidance_scale}) "
        f"and {len(src.names) - n_gen} photograph crops (post-hoc watermarks only).",
        "Null for TPR at a fixed FPR: each watermark's score on the clean, un-attacked images "
        + ", ".join(f"{name}: {len(stage['null'])}" for name, stage in stages.items())
        + "; with fewer than 1/FPR null images the threshold is the null maximum.",
        "Quality metrics compare each attacked image with the watermarked image the attacker received; "
        "images are 8-bit between steps.",
        f"Metric settings: `{json.dumps(scorer.describe(), default=str)}`.",
    ] + [f"Note: {n}" for n in notes]
    report.add_text("\n\n".join(lines), title="Setup")
    report.add_table(
        "Robustness (watermark x attack x strength)", table_rows(rows), caption=f"full columns in {CSV_FILE}"
    )
    report.add_table(
        "Detection at the paraphrase's SSIM",
        at_reference_ssim(rows),
        caption="Each paraphrase cell's SSIM to the watermarked image, its TPR at 1% FPR and bit accuracy, and "
        "every other attack's interpolated along its strength curve at that SSIM (blank: the attack never "
        "reaches it).",
    )
    report.add_table(
        "Detection at matched SSIM",
        matched_ssim(rows, cfg.matched_ssim),
        caption="TPR at 1% FPR and bit accuracy interpolated along each attack's strength curve at fixed SSIM "
        "to the watermarked image (`matched_ssim`; blank: the attack never reaches that SSIM).",
    )
    import matplotlib.pyplot as plt

    for wm, by_attack in by_cell.items():
        fig = quality_detection_figure(wm, by_attack)
        report.add_figure(f"{wm}: quality vs detection", fig)
        plt.close(fig)
    if cfg.examples:
        for wm, stage in stages.items():
            images, captions = [stage["marked"][0]], [f"{wm} (no attack)"]
            for spec in cfg.attack_specs():
                strength = max(cfg.strengths_of(spec))
                tensors, _ = ctx.checkpoint.load(cell_key(wm, spec.key, strength))
                if "examples" in tensors:
                    images.append(dequantize(tensors["examples"][0]))
                    captions.append(f"{spec.key} s={strength:g}")
            report.add_images(f"{wm}: attacks at their highest strength", images, captions=captions, ncols=7)


@register_experiment("watermark_bench", config=WatermarkBenchConfig)
def run(ctx: RunContext, cfg: WatermarkBenchConfig) -> None:
    """Watermark robustness: watermark x attack x strength, with visual paraphrase."""
    run_benchmark(ctx, cfg)
