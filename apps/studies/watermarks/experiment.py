"""The ``watermarks-through-generators`` experiment: every generator's images under every watermark and
attack.

1. Per seed x generator (a work item): the seed's scenes generated three ways from the same initial noise:
   clean, and with each generation-time watermark's key written into the initial latents (Tree-Ring,
   Gaussian Shading), which the generator starts from (``GenerationRequest.latents``); its own guidance
   (region fusion, box guidance, MRSA, neighbour blending) then runs as usual. Images are stored 8-bit at
   ``image_size``.
2. Per seed x generator x watermark: the watermarked images (post-hoc watermarks embed into the clean
   images; generation-time ones are the keyed generations), and the detector's scores and bits of the clean
   images (the null) and of the watermarked ones.
3. Per seed x generator x watermark x attack: every strength of the attack applied to the watermarked
   images, decoded, and compared with them (PSNR, SSIM).
4. The main process sets each seed and watermark's threshold at ``fpr`` on the clean images of every
   generator of the seed, and reports TPR and bit accuracy per generator x watermark, clean and under each
   attack, at matched SSIM, and each generator against stock.

Run it with ``workbench run examples/study_watermarks.yaml``; ``--resume RUN_DIR`` continues.
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch

from apps.studies.watermarks.report import write_report
from apps.studies.watermarks.scenes import StudyScene, conditions, study_scenes
from attacks.image import IMAGE_ATTACKS, AttackModels, build_attack
from attacks.image.ops import resize
from attacks.watermarks import WATERMARKS, build_watermark, parse_payload
from attacks.watermarks.experiment import dequantize, quantize
from attacks.watermarks.inversion import ddim_pipeline
from workbench.experiments import register_experiment
from workbench.generation import GENERATORS, GenerationRequest, build_generator
from workbench.loading.choice import build_clip, build_sd_pipeline, resolve_choice
from workbench.runs import RunContext
from workbench.runs.items import batch_bounds, map_items

from .config import WatermarkStudyConfig
from .measures import detection

__all__ = ["run_study"]

CLEAN = "clean"


def generation_time(name: str) -> bool:
    return WATERMARKS.get(name).kind == "generation"


def make_watermark(cfg: WatermarkStudyConfig, name: str, seed: int, pipe: Any, runtime, latent_size: int):
    """Watermark ``name`` keyed by ``seed``; a generation-time one inverts ``pipe`` with the generation's
    steps and guidance at ``latent_size``."""
    options = dict(cfg.watermark_options.get(name, {}))
    if generation_time(name):
        g = cfg.generation
        defaults = {
            "num_inference_steps": g.num_inference_steps,
            "guidance_scale": g.guidance_scale,
            "inversion_steps": g.num_inference_steps,
            "latent_size": latent_size,
        }
        options = {**defaults, **options}
    return build_watermark(name, pipe=pipe, runtime=runtime, seed=seed, **options)


def generator_options(cfg: WatermarkStudyConfig, name: str) -> dict[str, Any]:
    """``generator_options[name]``; the retrieval generators take the generation's guidance scale (their
    guidance is a section of their own) and the run seed for their references' noise unless given."""
    options = dict(cfg.generator_options.get(name, {}))
    if name.startswith("retrieval_"):
        options.setdefault("guidance", {"guidance_scale": cfg.generation.guidance_scale})
        options.setdefault("reference_seed", cfg.seed)
    return options


def attack_options(cfg: WatermarkStudyConfig, t, sd_name: str) -> dict[str, Any]:
    """An attack's options; a model-backed attack uses the study's SD unless its options name another."""
    options = dict(t.options)
    if "model" in IMAGE_ATTACKS.get(t.attack).config_class.model_fields:
        options.setdefault("model", sd_name)
    return options


def retrieve_neighbours(ctx: RunContext, cfg: WatermarkStudyConfig, scenes: dict[int, list[StudyScene]]):
    """Each seed's neighbours from a knowledge base of the scenes' entities (toy catalogue views), built in
    the run folder; ``None`` when no generator retrieves."""
    if not any("neighbours" in GENERATORS.get(g).requires for g in cfg.generators):
        return None, "none (no retrieval generator)"
    # deferred: torchmetrics, transformers (only the retrieval generators need a CLIP)
    from generators.retrieval.embedder import ClipEmbedder
    from generators.retrieval.knowledge_base import KnowledgeBase
    from generators.retrieval.retriever import retrieve
    from generators.retrieval.sources import ToyEntitySource

    model, processor, source = build_clip(cfg.models.clip, ctx.runtime)
    entities = sorted({s.entity for seed_scenes in scenes.values() for s in seed_scenes})
    kb = KnowledgeBase.build(
        ctx.dir / "kb",
        ToyEntitySource(cfg.scenes.views_per_entity, entities=entities),
        ClipEmbedder(model, processor, name=source),
        runtime=ctx.runtime,
    )
    found = {
        s: retrieve(kb, [x.prompt for x in seed_scenes], k=cfg.scenes.k, target="bm25")
        for s, seed_scenes in scenes.items()
    }
    return (
        found,
        f"{len(kb)} entries ({len(entities)} entities x {cfg.scenes.views_per_entity} views), CLIP {source}",
    )


@torch.no_grad()
def analyse(wm, images: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(bits (N, L), scores (N,))`` of 8-bit images, ``batch`` at a time."""
    bits, scores = [], []
    for s, e in batch_bounds(images.shape[0], batch):
        b, sc = wm.analyse(dequantize(images[s:e]))
        bits.append(b.float())
        scores.append(sc.double())
    return torch.cat(bits), torch.cat(scores)


def quality(images: torch.Tensor, reference: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image PSNR (dB) and SSIM of 8-bit ``images`` to ``reference`` (data range 1)."""
    from metrics.functional import peak_signal_noise_ratio, structural_similarity  # deferred: scipy

    x, y = dequantize(images), dequantize(reference)
    return {
        "psnr": peak_signal_noise_ratio(x, y, data_range=1.0).double().clamp(max=100.0),
        "ssim": structural_similarity(x, y, data_range=1.0).double(),
    }


@register_experiment("watermarks-through-generators", config=WatermarkStudyConfig)
def run_study(ctx: RunContext, cfg: WatermarkStudyConfig) -> None:
    """Every generator x watermark x attack: clean TPR, TPR and bit accuracy under attack, against stock."""
    rt = ctx.runtime
    load = os.getloadavg()
    for t in cfg.attacks:  # bad names and settings fail here, before any model is loaded
        if t.attack not in IMAGE_ATTACKS:
            raise ValueError(
                f"attacks: unknown attack {t.attack!r}; known: {', '.join(IMAGE_ATTACKS.names())}"
            )
        for s in t.strengths:
            build_attack(t.attack, strength=s, **t.options)
    pipe, sd_source = build_sd_pipeline(cfg.models.sd, rt, cfg.generation.size)
    sd_name = resolve_choice(cfg.models.sd, "sd")
    ddim = ddim_pipeline(pipe)  # DDIM: the schedule the generation-time watermarks invert
    factor = int(ddim.vae_scale_factor)
    size = cfg.generation.size or int(ddim.unet.config.sample_size) * factor
    if size % factor:
        raise ValueError(
            f"generation.size must be a multiple of {factor} (the VAE's scale factor), got {size}"
        )
    latent_shape = (int(ddim.unet.config.in_channels), size // factor, size // factor)
    generators = {g: build_generator(g, ddim, generator_options(cfg, g)) for g in cfg.generators}
    seeds = [cfg.seed + i for i in range(cfg.seeds)]
    scenes = {s: study_scenes(s, cfg.scenes.prompts) for s in seeds}
    neighbours, kb_note = retrieve_neighbours(ctx, cfg, scenes)
    marks = {
        s: {w: make_watermark(cfg, w, s, ddim, rt, latent_shape[-1]) for w in cfg.watermarks} for s in seeds
    }
    keyed = [w for w in cfg.watermarks if generation_time(w)]
    ctx.save_json("scenes", {str(s): [x.prompt for x in v] for s, v in scenes.items()})

    # 1. generation: clean and keyed initial latents through every generator
    gen_items = [(s, g) for s in seeds for g in cfg.generators]

    def generate(j: int):
        s, g = gen_items[j]
        start, cpu = time.perf_counter(), time.process_time()
        gen = generators[g]
        n = len(scenes[s])
        cond = conditions(gen.requires, scenes[s], size, None if neighbours is None else neighbours[s])
        noise = torch.stack(
            [torch.randn(latent_shape, generator=rt.generator("noise", s, i, device="cpu")) for i in range(n)]
        )  # (n, C, h, w): the same for every generator
        latents = {CLEAN: noise}
        for w in keyed:
            payload = parse_payload(marks[s][w].payload, marks[s][w].num_bits, batch_size=n)  # (n, L)
            latents[w] = marks[s][w].watermark_latents(noise, payload)  # (n, C, h, w)
        out = {}
        for variant, lat in latents.items():
            parts = []
            for a, b in batch_bounds(n, cfg.batch_size):
                request = GenerationRequest(
                    [x.prompt for x in scenes[s][a:b]],
                    [rt.generator("image", s, i) for i in range(a, b)],
                    num_inference_steps=cfg.generation.num_inference_steps,
                    guidance_scale=cfg.generation.guidance_scale,
                    height=size,
                    width=size,
                    conditions={k: v[a:b] for k, v in cond.items()},
                    latents=lat[a:b].to(device=ddim.device, dtype=ddim.unet.dtype),
                )
                with rt.autocast():
                    parts.append(gen(request))  # (b - a, 3, size, size)
            out[variant] = quantize(resize(torch.cat(parts), (cfg.image_size, cfg.image_size)))
        return out, {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}

    generated = map_items(ctx, [f"generate/seed-{s}/{g}" for s, g in gen_items], generate, desc="generate")
    images = {key: tensors for key, (tensors, _) in zip(gen_items, generated)}

    # 2. watermarked images; the detector on the clean and the watermarked ones
    mark_items = [(s, g, w) for s, g in gen_items for w in cfg.watermarks]

    def mark(j: int):
        s, g, w = mark_items[j]
        start, cpu = time.perf_counter(), time.process_time()
        wm, clean = marks[s][w], images[(s, g)][CLEAN]
        if generation_time(w):
            marked = images[(s, g)][w]
        else:
            marked = torch.cat(
                [
                    quantize(wm.embed(dequantize(clean[a:b])))
                    for a, b in batch_bounds(len(clean), cfg.batch_size)
                ]
            )
        null_bits, null_scores = analyse(wm, clean, cfg.batch_size)
        bits, scores = analyse(wm, marked, cfg.batch_size)
        tensors = {
            "marked": marked,
            "null_scores": null_scores,
            "null_bits": null_bits,
            "scores": scores,
            "bits": bits,
        }
        tensors.update(quality(marked, clean))
        return tensors, {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}

    keys = [f"mark/seed-{s}/{g}/{w}" for s, g, w in mark_items]
    marking = map_items(ctx, keys, mark, desc="watermark")
    marked = {key: tensors for key, (tensors, _) in zip(mark_items, marking)}

    # 3. every attack at every strength on the watermarked images
    models = AttackModels(rt, img2img={sd_name: _img2img(ddim)})
    attack_items = [(s, g, w, a) for s, g, w in mark_items for a in range(len(cfg.attacks))]

    def attack(j: int):
        s, g, w, a = attack_items[j]
        start, cpu = time.perf_counter(), time.process_time()
        t = cfg.attacks[a]
        wm, reference = marks[s][w], marked[(s, g, w)]["marked"]
        out: dict[str, list[torch.Tensor]] = {k: [] for k in ("scores", "bits", "psnr", "ssim")}
        examples = []
        for strength in t.strengths:
            fn = build_attack(t.attack, models=models, strength=strength, **attack_options(cfg, t, sd_name))
            parts = []
            for x, y in batch_bounds(len(reference), cfg.batch_size):
                gens = [rt.generator("attack", s, t.attack, strength, i) for i in range(x, y)]
                with rt.autocast():
                    parts.append(quantize(fn(dequantize(reference[x:y]).to(rt.device), gens)))
            attacked = torch.cat(parts)
            bits, scores = analyse(wm, attacked, cfg.batch_size)
            for k, v in {"scores": scores, "bits": bits, **quality(attacked, reference)}.items():
                out[k].append(v)
            examples.append(attacked[0])
        tensors = {k: torch.stack(v) for k, v in out.items()}  # (strengths, n, ...)
        if s == seeds[0]:
            tensors["examples"] = torch.stack(examples)  # (strengths, 3, S, S) uint8
        return tensors, {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}

    keys = [f"attack/seed-{s}/{g}/{w}/{cfg.attacks[a].attack}-{a}" for s, g, w, a in attack_items]
    attacking = map_items(ctx, keys, attack, desc="attack")
    attacked = {key: tensors for key, (tensors, _) in zip(attack_items, attacking)}
    if not ctx.is_main:
        return

    # 4. numbers: thresholds on the seed's clean images of every generator
    rows: list[dict[str, Any]] = []
    for s, g, w in mark_items:
        wm, m = marks[s][w], marked[(s, g, w)]
        null = torch.cat([marked[(s, other, w)]["null_scores"] for other in cfg.generators])
        payload = wm.payload
        base = {"seed": s, "generator": g, "watermark": w, "kind": WATERMARKS.get(w).kind}
        rows.append(
            {
                **base,
                "attack": "none",
                "strength": 0.0,
                **detection(null, m["scores"], m["bits"], payload, cfg.fpr),
                "ssim": 1.0,
                "psnr": None,
                "mark_psnr": float(m["psnr"].mean()),
                "mark_ssim": float(m["ssim"].mean()),
                "n_null": int(null.numel()),
            }
        )
        for a, t in enumerate(cfg.attacks):
            r = attacked[(s, g, w, a)]
            for k, strength in enumerate(t.strengths):
                rows.append(
                    {
                        **base,
                        "attack": t.attack,
                        "strength": float(strength),
                        **detection(null, r["scores"][k], r["bits"][k], payload, cfg.fpr),
                        "ssim": float(r["ssim"][k].mean()),
                        "psnr": float(r["psnr"][k].mean()),
                    }
                )
    ctx.save_json("rows", rows)
    stages = {"generate": generated, "watermark": marking, "attack": attacking}
    seconds = {
        stage: {k: sum(m[k] for _, m in results) for k in ("seconds", "cpu_seconds")}
        for stage, results in stages.items()
    }
    write_report(
        ctx,
        cfg,
        rows,
        seeds,
        {
            "sd": sd_source,
            "knowledge_base": kb_note,
            "size": size,
            "latent_shape": list(latent_shape),
            "scenes": scenes,
            "watermarks": {w: marks[seeds[0]][w].describe() for w in cfg.watermarks},
            "load": f"{load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (1-minute)",
        },
        images,
        attacked,
        seconds,
    )


def _img2img(pipe: Any) -> Any:
    """A ``StableDiffusionImg2ImgPipeline`` sharing ``pipe``'s modules (the model-backed attacks')."""
    from diffusers import StableDiffusionImg2ImgPipeline  # deferred: diffusers (loaded with the models)

    out = StableDiffusionImg2ImgPipeline(**pipe.components, requires_safety_checker=False)
    out.set_progress_bar_config(disable=True)
    return out
