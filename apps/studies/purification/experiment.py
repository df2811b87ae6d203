"""The ``purification-vs-master-prints`` experiment: do the attacks on watermarks disarm master images?

1. Per seed (a work item): a random set of colour-shape class prompts; master images mined on all of
   them (the pixel recipe of :mod:`apps.studies.mining`).
2. Per seed x purifier x strength (a work item): the master images and the real toy images of the same
   classes pass through the purifier (an image attack of ``attacks.image.IMAGE_ATTACKS``, as a defence
   in front of the CLIP would pass every input); both are embedded.
3. Per condition: the master images' fooling accuracy (the share of the purified real images of each
   prompt's class they outscore) and outrank rate, against the zero-shot accuracy of the purified real
   images over the same classes (its drop from no purifier is the defence's cost).

Run it with ``workbench run examples/study_purification.yaml``; ``--resume RUN_DIR`` continues.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from apps.studies.mining import mine_snapshots
from apps.studies.models import load_clip_bundle
from attacks.image import IMAGE_ATTACKS, AttackModels, build_attack
from attacks.masterprints.evaluation import embed_images
from attacks.masterprints.toy_images import ToyWorldImages, toy_class_prompts
from metrics.functional import fooling_accuracy
from workbench.experiments import register_experiment
from workbench.runs import RunContext
from workbench.runs.items import map_items

from .config import PurificationConfig
from .report import write_report

__all__ = ["measure", "run_purification"]

NONE = "none"


def class_prompts(seed: int, count: int) -> list[str]:
    """``count`` colour-shape class prompts drawn by ``seed`` (``"a red circle"``)."""
    pool = toy_class_prompts()
    if count > len(pool):
        raise ValueError(f"prompts must be at most {len(pool)} (the toy world's classes), got {count}")
    order = np.random.default_rng([seed, 3028]).permutation(len(pool))
    return [pool[i] for i in sorted(order[:count])]


def real_images(
    prompts: list[str], per_prompt: int, size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images (P * n, 3, S, S), labels (P * n,))``: one-object toy scenes of each prompt (test split)."""
    source = ToyWorldImages(size=size, per_prompt=per_prompt, seed=seed, split="test")
    images = torch.cat([source(p) for p in prompts])  # (P * n, 3, S, S)
    labels = torch.arange(len(prompts)).repeat_interleave(per_prompt)  # (P * n,)
    return images, labels


@torch.no_grad()
def measure(
    scorer, text_emb: torch.Tensor, emb: torch.Tensor, masters: int, labels: torch.Tensor
) -> dict[str, float]:
    """Fooling accuracy, outrank rate and zero-shot accuracy of one condition.

    Args:
        scorer: the CLIP (its ``similarity``).
        text_emb (`(P, D)`): the prompts' embeddings.
        emb (`(M + R, D)`): the (purified) master images' embeddings, then the real images'.
        masters: ``M``.
        labels (`(R,)`): each real image's prompt index.
    """
    scores = scorer.similarity(emb.to(text_emb.device), text_emb).float().cpu()  # (M + R, P)
    master_scores, real_scores = scores[:masters], scores[masters:]  # (M, P), (R, P)
    mask = labels[None, :] == torch.arange(text_emb.shape[0])[:, None]  # (P, R)
    fooling = [fooling_accuracy(m, real_scores.T, mask).mean() for m in master_scores]  # M x ()
    best_real = real_scores.T.masked_fill(~mask, float("-inf")).max(dim=1).values  # (P,)
    outrank = (master_scores > best_real[None]).double().mean()  # share of (master, prompt) pairs
    zero_shot = (real_scores.argmax(dim=1) == labels).double().mean()
    return {
        "fooling_accuracy": float(torch.stack(fooling).mean()),
        "outrank": float(outrank),
        "zero_shot_accuracy": float(zero_shot),
    }


@register_experiment("purification-vs-master-prints", config=PurificationConfig)
def run_purification(ctx: RunContext, cfg: PurificationConfig) -> None:
    """Master images through JPEG, blur, VAE regeneration and visual paraphrase: fooling vs zero-shot cost."""
    rt = ctx.runtime
    for t in cfg.transforms:  # bad names and settings fail here, before mining
        if t.attack not in IMAGE_ATTACKS:
            raise ValueError(
                f"transforms: unknown attack {t.attack!r}; known: {', '.join(IMAGE_ATTACKS.names())}"
            )
        for s in t.strengths:
            build_attack(t.attack, strength=s, **t.options)
    clip = load_clip_bundle(cfg.clip, rt)
    size = cfg.mining.image_size or clip.scorer.image_size
    seeds = [cfg.seed + i for i in range(cfg.seeds)]
    budget = max(cfg.mining.budgets)

    def mine(i: int):
        prompts = class_prompts(seeds[i], cfg.prompts)
        snaps = mine_snapshots(
            clip.scorer, prompts, cfg.masters, cfg.mining, rt, key=f"studies/purification/{seeds[i]}"
        )
        return {"masters": snaps[budget]}, {"prompts": prompts}

    mined = map_items(ctx, [f"mine/seed-{s}" for s in seeds], mine, desc="mine")
    models = AttackModels(rt)
    conditions = [(NONE, 0.0, {})] + [
        (t.attack, float(s), t.options) for t in cfg.transforms for s in t.strengths
    ]
    items = [(i, c) for i in range(len(seeds)) for c in range(len(conditions))]

    def purify(j: int):
        i, c = items[j]
        name, strength, options = conditions[c]
        prompts = mined[i][1]["prompts"]
        real, _ = real_images(prompts, cfg.real_per_prompt, size, seeds[i])
        images = torch.cat([mined[i][0]["masters"], real]).float()  # (M + R, 3, S, S)
        if name != NONE:
            attack = build_attack(name, models=models, strength=strength, **options)
            parts = []
            for s in range(0, images.shape[0], cfg.batch_size):
                chunk = images[s : s + cfg.batch_size]
                gens = [
                    rt.generator("purify", seeds[i], name, strength, s + n) for n in range(chunk.shape[0])
                ]
                with rt.autocast():
                    parts.append(attack(chunk.to(rt.device), gens).float().cpu())
            images = torch.cat(parts)
        emb = embed_images(clip.scorer, images.to(rt.device)).float().cpu()  # (M + R, D)
        return {"emb": emb, "masters": images[: cfg.masters].contiguous()}, {}

    keys = [f"purify/seed-{seeds[i]}/{conditions[c][0]}/{conditions[c][1]:g}" for i, c in items]
    purified = map_items(ctx, keys, purify, desc="purify")
    rows: list[dict[str, Any]] = []
    for (i, c), (tensors, _) in zip(items, purified):
        name, strength, _ = conditions[c]
        prompts = mined[i][1]["prompts"]
        _, labels = real_images(prompts, cfg.real_per_prompt, size, seeds[i])
        text = clip.scorer.encode_text(prompts)  # (P, D)
        rows.append(
            {
                "seed": seeds[i],
                "transform": name,
                "strength": strength,
                **measure(clip.scorer, text, tensors["emb"], cfg.masters, labels),
            }
        )
    ctx.save_json("rows", rows)
    write_report(ctx, cfg, clip.source, seeds, rows, conditions, items, purified, budget)
