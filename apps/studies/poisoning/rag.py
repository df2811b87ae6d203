"""Downstream damage: retrieval-augmented generation with the clean and the poisoned base.

Per seed, the first held-out entities (scene prompts naming the entity, ``"a zorvik emblem on the left"``)
and the first held-out colour-shape classes (the class query itself, ``"a blue circle"``) are generated
with the neighbours that text-to-image retrieval of the prompt returns (training-free reference
attention), once from the clean base and once from a copy of it with the master images inserted. The
judge says whether the image shows the entity, or an object of the class.
"""

from __future__ import annotations

import shutil
from typing import Any

import numpy as np
import torch

from apps.studies.models import load_judge
from generators.retrieval.entity_scenes import entity_scene
from generators.retrieval.guidance import GuidanceConfig
from generators.retrieval.knowledge_base import KnowledgeBase
from generators.retrieval.retriever import retrieve
from workbench.generation import GenerationRequest, build_generator
from workbench.loading.choice import build_sd_pipeline
from workbench.runs.items import map_items

from .queries import MasterSource, split_queries

__all__ = ["rag_prompts", "run_rag"]


def rag_prompts(seed: int, entities: int, classes: int, per_entity: int = 1) -> list[dict[str, Any]]:
    """The seed's downstream prompts: ``{"prompt", "kind", "target", "box"}`` (``box``: the entity's)."""
    split = split_queries(seed)
    held_entities = list(dict.fromkeys(q.target for q in split.heldout if q.kind == "entity"))[:entities]
    out = []
    for e in held_entities:
        for j in range(per_entity):
            scene = entity_scene(np.random.default_rng([seed, len(out), j]), e)
            out.append(
                {"prompt": scene.caption(), "kind": "entity", "target": e, "box": tuple(scene.objects[0].box)}
            )
    for q in [q for q in split.heldout if q.kind == "class"][:classes]:
        out.append({"prompt": q.text, "kind": "class", "target": q.target, "box": None})
    return out


def poisoned_copy(ctx, kb, embedder, masters: torch.Tensor, seed: int, budget: int):
    """A copy of the clean base in the run folder with the master images added (distinct captions: the
    seed's mined class queries, so the base's near-duplicate filter does not merge them)."""
    folder = ctx.dir / f"kb-poisoned-seed{seed}"
    if ctx.is_main and not (folder / "manifest.json").exists():
        shutil.copytree(kb.folder, folder, dirs_exist_ok=True)
    ctx.runtime.wait()
    poisoned = KnowledgeBase.open(folder, embedder)
    poisoned.runtime = ctx.runtime
    captions = [q.text for q in split_queries(seed).mined if q.kind == "class"]
    poisoned.add(MasterSource(masters, captions, tag=f"seed{seed}-b{budget}"), rescan=False)
    inside = sum(bool(e["meta"].get("master")) for e in poisoned.entries)
    ctx.logger.info("seed %d: %d of %d master images in the poisoned base", seed, inside, len(masters))
    return poisoned


def _fidelity(judge, images: torch.Tensor, prompts: list[dict[str, Any]]) -> list[float | None]:
    """1.0 where the judge finds the prompt's entity (or an object of its colour and shape), else 0.0."""
    if judge is None:
        return [None] * len(prompts)
    out = []
    for p, dets in zip(prompts, judge.detect(images.float())):
        if p["kind"] == "entity":
            out.append(float(any(d.entity == p["target"] for d in dets)))
        else:
            out.append(float(any(f"{d.color} {d.shape}" == p["target"] and d.entity is None for d in dets)))
    return out


def run_rag(ctx, cfg, clip, kb, seeds, results, budget) -> list[dict[str, Any]]:
    """One row per seed x base x prompt: ``master_retrieved`` (a master image among the neighbours) and
    ``fidelity`` (by the judge; ``None`` without one)."""
    rt, section = ctx.runtime, cfg.rag
    pipe, sd_source = build_sd_pipeline(cfg.models.sd, rt, cfg.models.image_size)
    judge, judge_source = load_judge(cfg.models.judge, rt)
    generator = build_generator(
        "retrieval_reference",
        pipe,
        {"guidance": GuidanceConfig(guidance_scale=section.guidance_scale), "reference_seed": cfg.seed},
    )
    ctx.save_json("rag_models", {"sd": sd_source, "judge": judge_source, "clip": clip.source})
    rows: list[dict[str, Any]] = []
    for seed, (tensors, _) in zip(seeds, results):
        prompts = rag_prompts(seed, section.entities, section.classes, section.prompts_per_entity)
        texts = [p["prompt"] for p in prompts]
        bases = {
            "clean": kb,
            "poisoned": poisoned_copy(ctx, kb, clip.embedder, tensors[f"masters_{budget}"], seed, budget),
        }
        for name, base in bases.items():
            neighbours = retrieve(base, texts, k=section.k, target="image")

            def compute(i: int, neighbours=neighbours, texts=texts, seed=seed):
                s, e = i * section.batch_size, min((i + 1) * section.batch_size, len(texts))
                request = GenerationRequest(
                    texts[s:e],
                    [rt.generator("rag", seed, n) for n in range(s, e)],  # the same noise for both bases
                    num_inference_steps=section.num_inference_steps,
                    height=cfg.models.image_size,
                    width=cfg.models.image_size,
                    conditions={"neighbours": neighbours[s:e]},
                )
                with rt.autocast():
                    return {"images": generator(request).float().cpu()}, {}

            batches = (len(texts) + section.batch_size - 1) // section.batch_size
            keys = [f"rag/seed-{seed}/{name}/{b}" for b in range(batches)]
            images = torch.cat([t["images"] for t, _ in map_items(ctx, keys, compute, desc=f"rag {name}")])
            for p, n, fid in zip(prompts, neighbours, _fidelity(judge, images, prompts)):
                hit = float(any(m.get("master", False) for m in n.meta))
                rows.append(
                    {
                        "seed": seed,
                        "base": name,
                        "kind": p["kind"],
                        "prompt": p["prompt"],
                        "master_retrieved": hit,
                        "fidelity": fid,
                    }
                )
            if seed == seeds[0]:
                for n, im in enumerate(images):
                    ctx.save_image(f"rag/{name}/{n:03d}", im)
    return rows
