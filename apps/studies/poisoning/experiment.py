"""The ``master-prints-vs-retrieval`` experiment: master images poison a CLIP-indexed knowledge base.

1. The clean base: the toy entity catalogue and toy scenes, embedded with the CLIP under attack.
2. Per seed (one work item each, sharded and checkpointed by :func:`workbench.runs.items.map_items`):
   the entities and classes are split in two; ``max(masters)`` master images are mined on the first
   half's queries (kept at every budget); the detector is trained on master images of its own (mined on
   the toy class prompts) and real toy scenes, and scores every base entry and master image.
3. Hijack rate and recall of the held-out queries for every budget x number inserted, and with each
   defence at the largest budget (exact search on the embeddings, as the base's own index).
4. Downstream: retrieval-augmented generation of held-out entities with the clean and the poisoned base
   (the master images really inserted into a copy of the base), fidelity by the judge.

Run it with ``workbench run examples/study_masterprints_retrieval.yaml``; ``--resume RUN_DIR`` continues.
"""

from __future__ import annotations

from typing import Any

import torch

from apps.studies.mining import mine_snapshots
from apps.studies.models import load_clip_bundle
from attacks.masterprints.mitigations import MasterPrintDetector, mine_master_set
from attacks.masterprints.spaces.base import build_space
from attacks.masterprints.toy_images import toy_class_prompts
from generators.retrieval.knowledge_base import KnowledgeBase
from generators.retrieval.sources import ToyEntitySource
from metrics.functional import threshold_at_fpr
from toyworld.world import ShapesWorld
from workbench.experiments import register_experiment
from workbench.runs import RunContext
from workbench.runs.items import map_items

from .config import PoisoningConfig
from .hijack import modality_gap, relevance, retrieval_outcome, shift_embeddings
from .queries import ToySceneSource, split_queries
from .rag import run_rag
from .report import write_report

__all__ = ["run_poisoning"]


# ---------------------------------------------------------------------------------------------- inputs
def clean_base(ctx: RunContext, cfg: PoisoningConfig, embedder: Any):
    """The clean knowledge base in the run folder (resumed when a killed run left one)."""
    section = cfg.knowledge_base
    source = ToyEntitySource(section.views_per_entity, seed=section.seed)
    kb = KnowledgeBase.build(ctx.dir / "kb", source, embedder, index=section.index, runtime=ctx.runtime)
    if section.scenes:
        kb.add(ToySceneSource(section.scenes, seed=section.seed), rescan=False)
    return kb


def base_images(kb) -> torch.Tensor:
    """`(N, 3, H, W)` every entry's image, in entry order."""
    return torch.stack(kb.images(list(range(len(kb))))).float()


def train_detector(cfg: PoisoningConfig, scorer, image_size: int, runtime, seed: int):
    """The master-image detector of one seed and its threshold at ``defences.fpr`` on real toy scenes."""
    d = cfg.defences
    space = build_space({"name": "pixels", "squash": "sigmoid"}, image_size=image_size, device=runtime.device)
    masters = mine_master_set(
        scorer, space, toy_class_prompts(), d.detector_set, runtime, key=f"study-seed-{seed}"
    )
    world = ShapesWorld(image_size)
    real_train = world.batch(seed=seed, split="train", start=0, count=d.real_train).images
    real_test = world.batch(seed=seed, split="val", start=0, count=d.real_test).images
    det = MasterPrintDetector(scorer, d.detector_model)
    det.fit(masters, real_train, generator=runtime.generator("studies", "detector-head", seed))
    threshold, achieved = threshold_at_fpr(det.probability(real_test), d.fpr)
    return det, threshold, achieved


# ---------------------------------------------------------------------------------------------- run
@register_experiment("master-prints-vs-retrieval", config=PoisoningConfig)
def run_poisoning(ctx: RunContext, cfg: PoisoningConfig) -> None:
    """Master images inserted into a CLIP-indexed knowledge base: hijack rate, damage, defences."""
    rt = ctx.runtime
    clip = load_clip_bundle(cfg.models.clip, rt)
    kb = clean_base(ctx, cfg, clip.embedder)
    ctx.logger.info("clean knowledge base: %d entries", len(kb))
    seeds = [cfg.seed + i for i in range(cfg.seeds)]
    count = max(cfg.masters)
    budgets = sorted(set(cfg.mining.budgets))
    image_size = cfg.mining.image_size or clip.scorer.image_size
    images_of_base: list[torch.Tensor] = []

    def compute(i: int):
        seed = seeds[i]
        split = split_queries(seed)
        snaps = mine_snapshots(
            clip.scorer, [q.text for q in split.mined], count, cfg.mining, rt, key=f"studies/poisoning/{seed}"
        )
        tensors = {f"masters_{b}": snaps[b] for b in budgets}  # (count, 3, S, S) each
        meta: dict[str, Any] = {"seed": seed}
        if cfg.defences.detector:
            det, threshold, achieved = train_detector(cfg, clip.scorer, image_size, rt, seed)
            if not images_of_base:
                images_of_base.append(base_images(kb))
            tensors["p_base"] = det.probability(images_of_base[0]).cpu()  # (N,)
            for b in budgets:
                tensors[f"p_masters_{b}"] = det.probability(snaps[b]).cpu()  # (count,)
            meta.update(threshold=threshold, achieved_fpr=achieved)
        return tensors, meta

    results = map_items(ctx, [f"seed-{s}" for s in seeds], compute, desc="mine")
    rows, defence_rows = [], []
    for seed, (tensors, meta) in zip(seeds, results):
        r, d = evaluate_seed(cfg, clip.embedder, kb, seed, tensors, meta, budgets)
        rows += r
        defence_rows += d
    rag_rows = run_rag(ctx, cfg, clip, kb, seeds, results, budgets[-1]) if cfg.rag.enabled else []
    ctx.save_json("hijack_rows", rows)
    ctx.save_json("defence_rows", defence_rows)
    ctx.save_json("rag_rows", rag_rows)
    ctx.save_tensors(
        "masters", {f"seed_{s}": t[f"masters_{budgets[-1]}"] for s, (t, _) in zip(seeds, results)}
    )
    write_report(ctx, cfg, kb, clip.source, seeds, budgets, rows, defence_rows, rag_rows, results)


# ---------------------------------------------------------------------------------------------- measures
@torch.no_grad()
def evaluate_seed(cfg, embedder, kb, seed, tensors, meta, budgets) -> tuple[list[dict], list[dict]]:
    """One seed's rows: hijack / recall per (budget, inserted, query set), and per defence."""
    split = split_queries(seed)
    base = kb.image_emb.float()  # (N, D)
    sets = {
        "heldout": split.heldout,
        "heldout entities": [q for q in split.heldout if q.kind == "entity"],
        "heldout classes": [q for q in split.heldout if q.kind == "class"],
        "mined": split.mined,
    }
    q_emb = {name: embedder.embed_texts([q.text for q in qs]).float() for name, qs in sets.items()}
    rel = {name: relevance(qs, kb.entries) for name, qs in sets.items()}
    none = torch.zeros(0, base.shape[1])
    rows = []
    for name in sets:
        clean = retrieval_outcome(q_emb[name], base, none, rel[name], cfg.top_k)
        rows.append({"seed": seed, "queries": name, "budget": None, "inserted": 0, **clean})
    m_emb = {b: embedder.embed_images(tensors[f"masters_{b}"]).float() for b in budgets}  # (count, D) each
    for b in budgets:
        for k in cfg.masters:
            for name in sets:
                out = retrieval_outcome(q_emb[name], base, m_emb[b][:k], rel[name], cfg.top_k)
                rows.append({"seed": seed, "queries": name, "budget": b, "inserted": k, **out})
    if "p_base" in tensors:  # the detector's flag rate on the inserted images at every budget
        for bb in budgets:
            rows.append(
                {
                    "seed": seed,
                    "queries": "detector",
                    "budget": bb,
                    "masters_flagged": float(
                        (tensors[f"p_masters_{bb}"] > meta["threshold"]).double().mean()
                    ),
                    "clean_flagged": float((tensors["p_base"] > meta["threshold"]).double().mean()),
                }
            )
    # defences at the largest budget, on the held-out queries
    b = budgets[-1]
    q, r = q_emb["heldout"], rel["heldout"]
    defences: dict[str, dict[str, Any]] = {"none": {}}
    if "p_base" in tensors:
        thr = meta["threshold"]
        keep = {"keep_base": tensors["p_base"] <= thr, "keep_master": tensors[f"p_masters_{b}"] <= thr}
        defences["detector at insertion"] = keep
        defences["detector at query time"] = {**keep, "window": cfg.defences.window}
    out_rows = []
    for k in cfg.masters:
        for name, kw in defences.items():
            kw = dict(kw)
            if "keep_master" in kw:
                kw["keep_master"] = kw["keep_master"][:k]
            poisoned = retrieval_outcome(q, base, m_emb[b][:k], r, cfg.top_k, **kw)
            clean_kw = {key: v for key, v in kw.items() if key != "keep_master"}
            clean = retrieval_outcome(q, base, none, r, cfg.top_k, **clean_kw)
            flagged = 1.0 - float(kw["keep_master"].double().mean()) if "keep_master" in kw else None
            out_rows.append(_defence_row(seed, name, k, poisoned, clean, flagged))
        all_q = torch.cat([q_emb["heldout"], q_emb["mined"]])
        gap = modality_gap(all_q, base)
        for s in cfg.defences.shifts:
            qs, bs = shift_embeddings(q, base, gap, s)
            _, ms = shift_embeddings(q, m_emb[b][:k], gap, s)
            poisoned = retrieval_outcome(qs, bs, ms, r, cfg.top_k)
            clean = retrieval_outcome(qs, bs, none, r, cfg.top_k)
            out_rows.append(_defence_row(seed, f"modality-gap shift {s:g}", k, poisoned, clean))
    return rows, out_rows


def _defence_row(seed, name, k, poisoned, clean, flagged=None) -> dict[str, Any]:
    return {
        "seed": seed,
        "defence": name,
        "inserted": k,
        "hijack_top1": poisoned["hijack_top1"],
        "hijack_topk": poisoned["hijack_topk"],
        "recall_at_k": poisoned["recall_at_k"],
        "clean_recall_at_k": clean["recall_at_k"],
        "clean_recall_at_1": clean["recall_at_1"],
        "base_kept": clean["base_kept"],
        "masters_flagged": flagged,
    }
