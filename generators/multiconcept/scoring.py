"""Per-image scores of the benchmark and their aggregates: judge (concepts found, positions), CLIP-T
(target prompt), CLIP-I and concept fidelity (each concept's region against its reference)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from generators.multiconcept.evaluate import crop_box, judge_composition, judge_prompt, mask_box, region_crops
from generators.multiconcept.toy_concepts import Composition, ToyConcept

__all__ = ["aggregate", "score_images"]


@torch.no_grad()
def score_images(
    images: Sequence[torch.Tensor],
    compositions: Sequence[Composition],
    references: Mapping[ToyConcept, tuple[torch.Tensor, torch.Tensor]],
    judge: Any | None,
    clip: tuple[Any, Any] | None,
    fidelity_encoder: Any | None,
    attributes: Sequence[str],
    crop_size: int,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Score one method's images.

    Args:
        images: per composition, `(N, 3, H, W)` in [0, 1].
        compositions: the compositions, same order.
        references: ``{concept: (image (3, H, W) in [0, 1], mask (H, W) bool)}``.
        judge: a ``ShapesJudge`` or ``None`` (no judge scores; regions fall back to the prompted boxes).
        clip: ``(CLIPModel, processor)`` or ``None``.
        fidelity_encoder: an ``ImageEncoder`` for the concept-fidelity score, or ``None``.
        attributes: what a plain object must match to count as found.
        crop_size: side of the region crops.

    Returns:
        ``(records, settings)``: one dict per image (``composition``, ``image``, ``concepts``, ``prompt``,
        ``all_found``, ``concept_found``, ``position``, ``prompt_found``, ``clip_t``, ``clip_i``, ``fidelity``;
        ``None`` where not measured) and the metrics' settings for the report.
    """
    from metrics import CLIPImageScore, CLIPTextScore, ConceptFidelity  # deferred: torchmetrics

    # the images were gathered from the work items already: each metric reads this process's values
    local = {"sync_on_compute": False}
    clip_t = CLIPTextScore(clip[0], clip[1], **local) if clip is not None else None
    clip_i = CLIPImageScore(clip[0], clip[1], **local) if clip is not None else None
    fidelity = ConceptFidelity(fidelity_encoder, **local) if fidelity_encoder is not None else None
    records: list[dict[str, Any]] = []
    for c, (batch, comp) in enumerate(zip(images, compositions)):
        batch = batch.float().clamp(0, 1)  # (N, 3, H, W)
        n, k = batch.shape[0], len(comp.concepts)
        dets = judge.detect(batch) if judge is not None else [[] for _ in range(n)]
        refs = torch.stack(
            [crop_box(*_ref_crop_args(references[con]), crop_size) for con in comp.concepts]
        )  # (K, 3, s, s)
        if clip_t is not None:
            clip_t.update(batch, [comp.prompt] * n)
        for i in range(n):
            verdicts = judge_composition(dets[i], comp, attributes) if judge is not None else []
            crops = region_crops(batch[i], comp, verdicts, crop_size)  # (K, 3, s, s)
            if clip_i is not None:
                clip_i.update(crops, refs)
            if fidelity is not None:
                fidelity.update(crops, list(refs[:, None]))
            records.append(
                {
                    "composition": c,
                    "image": i,
                    "concepts": k,
                    "prompt": comp.prompt,
                    "all_found": float(all(v.found for v in verdicts)) if verdicts else None,
                    "concept_found": float(np.mean([v.found for v in verdicts])) if verdicts else None,
                    "position": float(np.mean([v.position for v in verdicts])) if verdicts else None,
                    "prompt_found": float(judge_prompt(dets[i], comp, attributes))
                    if judge is not None
                    else None,
                }
            )
    settings: dict[str, Any] = {}
    for name, metric, per in (("clip_t", clip_t, 1), ("clip_i", clip_i, None), ("fidelity", fidelity, None)):
        if metric is None:
            for r in records:
                r[name] = None
            continue
        values = metric.per_item().tolist()
        settings[name] = metric.describe()
        pos = 0
        for r in records:
            m = per or r["concepts"]
            r[name] = float(np.mean(values[pos : pos + m]))  # mean over the image's concepts
            pos += m
    return records, settings


def _ref_crop_args(
    ref: tuple[torch.Tensor, torch.Tensor],
) -> tuple[torch.Tensor, tuple[float, float, float, float]]:
    image, mask = ref
    return image, mask_box(mask)


def aggregate(records: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    """Means (and counts) of ``keys`` over ``records`` by group: ``pairs`` (2 concepts), ``triples`` (3),
    ``all``; keys never measured are left out."""
    groups = {
        "pairs": [r for r in records if r["concepts"] == 2],
        "triples": [r for r in records if r["concepts"] == 3],
    }
    groups["all"] = list(records)
    out: dict[str, Any] = {}
    for group, rows in groups.items():
        if not rows:
            continue
        entry: dict[str, Any] = {"images": len(rows)}
        for key in keys:
            values = [r[key] for r in rows if r.get(key) is not None]
            if values:
                entry[key] = float(np.mean(values))
        out[group] = entry
    return out


def paired_se(
    records: Sequence[Mapping[str, Any]], baseline: Sequence[Mapping[str, Any]], key: str, concepts: int = 2
) -> float | None:
    """The standard error of the mean per-image difference ``records - baseline`` of ``key`` over the images
    of ``concepts``-concept compositions; the two methods' records pair by composition and image (same
    compositions and seeds). ``None`` with fewer than two pairs.

    Raises:
        ValueError: the records do not pair (other compositions or images).
    """
    if len(records) != len(baseline):
        raise ValueError(
            f"{len(records)} records against {len(baseline)}: the methods did not run the same images"
        )
    diffs = []
    for a, b in zip(records, baseline):
        if (a["composition"], a["image"]) != (b["composition"], b["image"]):
            raise ValueError(
                f"records do not pair: {a['composition'], a['image']} vs {b['composition'], b['image']}"
            )
        if a["concepts"] == concepts and a.get(key) is not None and b.get(key) is not None:
            diffs.append(a[key] - b[key])
    if len(diffs) < 2:
        return None
    return float(np.std(diffs, ddof=1) / np.sqrt(len(diffs)))
