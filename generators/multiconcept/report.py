"""The report of the ``multiconcept`` experiment: setup, claims, per-method tables, image grids."""

from __future__ import annotations

from typing import Any

import torch

from generators.multiconcept.collage import make_collage
from generators.multiconcept.concept import Concept
from generators.multiconcept.config import MultiConceptConfig
from generators.multiconcept.toy_concepts import Composition, ToyConcept
from workbench.runs import RunContext

__all__ = ["write_report"]

COLUMNS = ("images", "all_found", "concept_found", "position", "prompt_found", "clip_t", "clip_i", "fidelity")


def write_report(
    ctx: RunContext,
    cfg: MultiConceptConfig,
    comps: list[Composition],
    refs: dict[ToyConcept, tuple[torch.Tensor, torch.Tensor]],
    images: dict[str, list[torch.Tensor]],
    records: dict[str, list[dict[str, Any]]],
    metrics: dict[str, Any],
    settings: dict[str, Any],
    sources: dict[str, str],
) -> None:
    """Fill ``ctx.report``."""
    r = ctx.report
    g, fc, b = cfg.generation, cfg.freecustom, cfg.benchmark
    n_pairs = sum(len(c.concepts) == 2 for c in comps)
    r.add_text(
        f"Generator **{sources['generator']}**, judge **{sources['judge']}**, CLIP **{sources['clip']}**, "
        f"concept-fidelity encoder **{sources['fidelity']}**.\n\n"
        f"{n_pairs} pair(s) and {len(comps) - n_pairs} triple(s) of toy concepts, {b.images_per_composition} image(s) "
        f"each per method (same seeds for every method), masks from the {b.mask_source}. "
        f"{g.scheduler.upper()} {g.num_inference_steps} steps, guidance {g.guidance_scale}. "
        f"FreeCustom: layers {', '.join(fc.layers)}, mask weight {fc.mask_weight}, mask resize {fc.mask_resize}, style fidelity {fc.style_fidelity}, "
        f"MRSA steps {fc.start_step}..{fc.end_step if fc.end_step is not None else 'end'}. "
        f"Collage img2img strength {cfg.baselines.collage_strength}.\n\n"
        "**all_found**: the judge finds every concept of the prompt (shape, colour and texture; named "
        "entities by name) in the image; **concept_found**: the fraction found; **position**: found at the "
        "prompted place; **prompt_found**: the judge reads the text alone in the image (every object the target "
        "prompt names, with the attributes it names, at the place it names: a composition score as GenEval's); "
        "**clip_t**: CLIP score of the target prompt; **clip_i**: CLIP image similarity of each "
        "concept's region (the judge's box, else the prompted box) to its reference; **fidelity**: the same "
        "with the concept-fidelity encoder.",
        title="Multi-concept composition (FreeCustom)",
    )
    claims = metrics.get("claims", {})
    if claims:
        r.add_table(
            "Claims (two-concept compositions)", [{"claim": k, "value": v} for k, v in claims.items()]
        )
    rows = []
    for name in images:
        for group in ("pairs", "triples", "all"):
            entry = metrics[name].get(group)
            if entry:
                rows.append({"method": name, "group": group, **{k: entry[k] for k in COLUMNS if k in entry}})
        rows.append(
            {
                "method": name,
                "group": "seconds / image",
                "images": round(metrics[name]["seconds_per_image"], 4),
            }
        )
    r.add_table("Per method", rows)
    if settings:
        r.add_text("\n".join(f"- {k}: `{v}`" for k, v in settings.items()), title="Metric settings")

    size = next(iter(images.values()))[0].shape[-1]
    shown = comps[: cfg.score.grid_compositions]
    ref_tiles, ref_caps = [], []
    for c, comp in enumerate(shown):
        concepts = [Concept(refs[k][0], k.prompt, refs[k][1]) for k in comp.concepts]
        for k in comp.concepts:
            ref_tiles.append(refs[k][0])
            ref_caps.append(f"c{c}: {k.prompt}")
        ref_tiles.append(make_collage(concepts, size, size, comp.boxes))
        ref_caps.append(f"c{c}: collage")
        ref_tiles.extend([torch.zeros(3, size, size)] * (4 - len(comp.concepts)))
        ref_caps.extend([""] * (4 - len(comp.concepts)))
    if ref_tiles:
        r.add_images("References and collages", ref_tiles, captions=ref_caps, ncols=4)
    for name, per_comp in images.items():
        tiles, caps = [], []
        for c, comp in enumerate(shown):
            for i, img in enumerate(per_comp[c]):
                rec = records[name][c * len(per_comp[c]) + i]
                found = "" if rec["all_found"] is None else (" found" if rec["all_found"] else " missed")
                tiles.append(img)
                caps.append(f"c{c}: {comp.prompt}" if i == 0 else f"c{c}#{i}{found}")
        if tiles:
            r.add_images(f"{name}", tiles, captions=caps, ncols=max(1, cfg.benchmark.images_per_composition))
    per_comp_rows = []
    for c, comp in enumerate(comps):
        row: dict[str, Any] = {"composition": c, "prompt": comp.prompt}
        for name in images:
            vals = [
                x["all_found"] for x in records[name] if x["composition"] == c and x["all_found"] is not None
            ]
            if vals:
                row[f"{name} all_found"] = sum(vals) / len(vals)
        per_comp_rows.append(row)
    r.add_table("Per composition", per_comp_rows)
