"""The toy EntityDrawBench: prompts that place named entities in scenes, bucketed by how often the toy
generator saw each entity in training (frequent, rare, unseen), and the scores of generated images.

Per image: *entity fidelity* by the judge (does it detect the prompt's entity?), *CLIP-I* of the entity's
region (the judge's box of the entity, else the box the prompt asked for) against the knowledge base's
reference view of the entity (cropped to its box), and *CLIP-T* of the whole image against the prompt.

Example:
    >>> prompts = make_prompts(["frequent", "unseen"], entities_per_bucket=1, prompts_per_entity=2, seed=0)
    >>> [(p.bucket, p.entity) for p in prompts]
    [('frequent', 'zorvik'), ('frequent', 'zorvik'), ('unseen', 'xandro'), ('unseen', 'xandro')]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from generators.retrieval.boxes import pixel_box
from generators.retrieval.entity_scenes import entity_scene
from toyworld.entities import BUCKETS

__all__ = [
    "BenchPrompt",
    "claims",
    "crop_box",
    "make_prompts",
    "reference_crops",
    "score_images",
    "summarize",
]

CROP = 64  # side of the region crops given to CLIP


@dataclass(frozen=True)
class BenchPrompt:
    """One EntityDrawBench prompt: its entity, bucket, text and the entity's requested box (normalised xyxy)."""

    index: int
    entity: str
    bucket: str
    prompt: str
    box: tuple[float, float, float, float]


def make_prompts(
    buckets: Sequence[str],
    entities_per_bucket: int | None,
    prompts_per_entity: int,
    seed: int,
    others: tuple[int, int] = (0, 2),
) -> list[BenchPrompt]:
    """Prompts for the first ``entities_per_bucket`` entities of each bucket (``None``: all), each placed
    in ``prompts_per_entity`` seeded scenes with ``others`` plain objects beside it."""
    out: list[BenchPrompt] = []
    for bucket in buckets:
        if bucket not in BUCKETS:
            raise ValueError(f"unknown bucket {bucket!r}; known: {', '.join(BUCKETS)}")
        names = BUCKETS[bucket] if entities_per_bucket is None else BUCKETS[bucket][:entities_per_bucket]
        for entity in names:
            for j in range(prompts_per_entity):
                rng = np.random.default_rng([seed, len(out), j])
                scene = entity_scene(rng, entity, n_others=int(rng.integers(others[0], others[1] + 1)))
                out.append(
                    BenchPrompt(len(out), entity, bucket, scene.caption(), tuple(scene.objects[0].box))
                )
    return out


def crop_box(image: torch.Tensor, box: Sequence[float], size: int = CROP) -> torch.Tensor:
    """The region ``box`` (normalised xyxy) of ``image`` `(3, H, W)`, resized to `(3, size, size)`."""
    x0, y0, x1, y1 = pixel_box(box, image.shape[1], image.shape[2])
    region = image[:, y0:y1, x0:x1]  # (3, h', w')
    return F.interpolate(region[None].float(), size=(size, size), mode="bilinear", antialias=True)[0].clamp(
        0, 1
    )


def reference_crops(kb: Any, entities: Sequence[str]) -> dict[str, torch.Tensor]:
    """The knowledge base's reference of each entity: its first entry with that ``entity`` (and a ``box``),
    cropped to the box, `(3, CROP, CROP)`; entities without an entry are left out."""
    first: dict[str, int] = {}
    for i, entry in enumerate(kb.entries):
        name = entry["meta"].get("entity")
        if name in entities and name not in first and entry["meta"].get("box") is not None:
            first[name] = i
    return {name: crop_box(kb.image(i), kb.entries[i]["meta"]["box"]) for name, i in first.items()}


@torch.no_grad()
def score_images(
    images: torch.Tensor,
    prompts: Sequence[BenchPrompt],
    judge: Any = None,
    clip_i: Any = None,
    clip_t: Any = None,
    references: dict[str, torch.Tensor] | None = None,
) -> list[dict[str, Any]]:
    """Per-image scores.

    Args:
        images (`torch.Tensor` of shape `(N, 3, H, W)`): in [0, 1], image ``n`` made for ``prompts[n]``.
        judge: a :class:`~toyworld.judge.ShapesJudge` (``None``: no fidelity by the judge).
        clip_i: a :class:`metrics.CLIPImageScore` (``None``: no CLIP-I).
        clip_t: a :class:`metrics.CLIPTextScore` (``None``: no CLIP-T).
        references: entity -> reference crop (:func:`reference_crops`).

    Returns:
        One dict per image: ``entity``, ``bucket``, ``fidelity`` (1.0 / 0.0 or ``None``), ``clip_i``,
        ``clip_t`` (floats or ``None``).
    """
    rows = [
        {
            "index": p.index,
            "entity": p.entity,
            "bucket": p.bucket,
            "fidelity": None,
            "clip_i": None,
            "clip_t": None,
        }
        for p in prompts
    ]
    boxes = [p.box for p in prompts]
    if judge is not None:
        for n, dets in enumerate(judge.detect(images.float())):
            hits = [d for d in dets if d.entity == prompts[n].entity]
            rows[n]["fidelity"] = 1.0 if hits else 0.0
            if hits:
                boxes[n] = hits[0].box
    if clip_i is not None and references:
        have = [n for n, p in enumerate(prompts) if p.entity in references]
        if have:
            crops = torch.stack([crop_box(images[n], boxes[n]) for n in have])  # (m, 3, CROP, CROP)
            refs = torch.stack([references[prompts[n].entity] for n in have])  # (m, 3, CROP, CROP)
            for n, v in zip(have, clip_i.forward_values(crops, refs).tolist()):
                rows[n]["clip_i"] = float(v)
    if clip_t is not None:
        values, _ = clip_t.forward_values(images.float(), [p.prompt for p in prompts])
        for n, v in enumerate(values.tolist()):
            rows[n]["clip_t"] = float(v)
    return rows


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def summarize(rows_by_method: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per (method, bucket): ``n``, ``fidelity`` (% of images where the judge finds the entity),
    ``clip_i``, ``clip_t`` (means), ``retrieval_hit`` (% of prompts whose neighbours include the entity)."""
    table = []
    for method, rows in rows_by_method.items():
        by_bucket: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_bucket[row["bucket"]].append(row)
        for bucket, items in by_bucket.items():
            fid = _mean([r["fidelity"] for r in items])
            hit = _mean([r.get("retrieval_hit") for r in items])
            table.append(
                {
                    "method": method,
                    "bucket": bucket,
                    "n": len(items),
                    "fidelity": None if fid is None else 100.0 * fid,
                    "clip_i": _mean([r["clip_i"] for r in items]),
                    "clip_t": _mean([r["clip_t"] for r in items]),
                    "retrieval_hit": None if hit is None else 100.0 * hit,
                }
            )
    return table


def claims(
    table: list[dict[str, Any]],
    baseline: str = "none/single",
    gain: float = 30.0,
    max_drop: float = 5.0,
    prefix: str = "",
) -> list[dict[str, Any]]:
    """The issue's claims for each retrieval method (whose name starts with ``prefix``; not the runs without
    retrieval, ``none/...`` and ``.../none``) against ``baseline``: on rare and unseen entities fidelity at
    least ``gain`` points higher; on frequent ones at most ``max_drop`` points lower."""
    base = {r["bucket"]: r["fidelity"] for r in table if r["method"] == baseline}
    out = []
    for row in table:
        if (
            row["method"] == baseline
            or not row["method"].startswith(prefix)
            or row["method"].startswith("none/")
            or row["method"].endswith("/none")
        ):
            continue
        if row["fidelity"] is None or base.get(row["bucket"]) is None:
            continue
        delta = row["fidelity"] - base[row["bucket"]]
        need = f">= -{max_drop:g}" if row["bucket"] == "frequent" else f">= +{gain:g}"
        ok = delta >= -max_drop if row["bucket"] == "frequent" else delta >= gain
        out.append(
            {
                "method": row["method"],
                "baseline": baseline,
                "bucket": row["bucket"],
                "delta_points": delta,
                "needed": need,
                "holds": ok,
            }
        )
    return out
