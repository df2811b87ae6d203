"""Judge-measured evaluation of GCDP on held-out toy-world scenes, beside the toy SD on the same prompts and
noise seeds:

- ``two_object_both_right`` / ``three_object_all_right``: every object of the caption found by the judge with
  its shape and colour (:func:`generators.layout.scoring.score_image`'s ``all_present``), for GCDP's joint
  text -> (image, layout) mode and for the toy SD;
- ``layout_image_miou``: agreement of GCDP's generated layout with its own image: mean IoU between the
  generated 16x16 layout and the layout the judge's detections imply (each detected shape drawn in its box,
  reduced to the latent grid as the training layouts were), per image over the classes present in either
  map (background included), averaged over images; ``judge_layout_miou_real`` is the same measure between
  real scenes' exact layouts and the judge's reading of those scenes (the measure's ceiling);
- ``layout_to_image_*``: the exact layout of a held-out scene given (layout -> image, the scene's caption):
  ``mean_iou`` of each object's detected box (same shape and colour) with its box (a missing object counts 0),
  ``all_in_box`` (IoU >= 0.5) and the map mIoU between the given layout and the judge-implied one;
- ``segmentation_miou``: image -> layout on real held-out scenes against their exact layouts.

For a model of colour layouts (50 (shape, colour) classes, :func:`toyworld.semantic.layout_classes`) the judge's
detections imply colour layouts (each detection's shape and colour) and the given layouts are colour layouts;
``layout_image_miou_shapes`` and ``layout_to_image_map_miou_shapes`` then add the same measures with every
colour class mapped to its shape's (the shape layouts' measure, comparable with shape-layout models).

``--measures`` restricts a run to some of them (``two``: the two-object prompts and ``layout_image_miou``;
``three``; ``layout_to_image``; ``segmentation``); ``--reveal-order`` and ``--layout-fraction`` set the layout's
sampling in the joint mode and in segmentation (:class:`~generators.layout.gcdp.pipeline.GCDPPipeline`; without
``--reveal-order`` each mode takes its own default order).

Run (the shipped folder, or a training checkpoint)::

    python -m generators.layout.gcdp.evaluate --checkpoint ~/.cache/workbench/toy-train/gcdp/checkpoint.pt \
        --seeds 0 1 2 --n 32
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from typing import Any

import torch

from toyworld.judge import ShapesJudge
from toyworld.presets import MODELS_DIR
from toyworld.semantic import downsample_classes, layout_from_objects, semantic_maps, shape_classes
from toyworld.train.loop import load_checkpoint
from toyworld.world import ShapesWorld
from workbench.sampling import WORKBENCH_SAMPLING

from ..scoring import RequestedObject, score_image
from .generator import load_gcdp_pipeline, pipeline_layout_colors
from .pipeline import LAYOUT_FRACTION, LAYOUT_GUIDANCE_SCALE, LAYOUT_TEMPERATURE
from .scheduler import REVEAL_ORDERS, RevealOrder
from .train import pipeline_from_checkpoint

__all__ = ["MEASURES", "evaluate_gcdp", "implied_layouts", "layout_miou"]

MEASURES: tuple[str, ...] = ("two", "three", "layout_to_image", "segmentation")

SCENE_SEED = 7100  # held-out test scenes of seed s: world seed SCENE_SEED + s (never trained on: test split)


def implied_layouts(
    detections: Sequence[Sequence[Any]], size: int, factor: int, colors: bool = False
) -> torch.Tensor:
    """The layouts `(B, size / factor, size / factor)` that the judge's detections imply (``colors``: each
    detection's (shape, colour) class)."""
    objs = [
        [(d.entity, d.shape, d.box, *((d.color,) if colors else ())) for d in dets] for dets in detections
    ]
    return downsample_classes(layout_from_objects(objs, size, colors), factor)


def layout_miou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image mean IoU `(B,)` of class maps `(B, h, w)`, over the classes present in either map."""
    out = []
    for x, y in zip(a, b):
        ious = []
        for k in torch.unique(torch.cat([x.flatten(), y.flatten()])).tolist():
            inter = ((x == k) & (y == k)).sum().item()
            union = ((x == k) | (y == k)).sum().item()
            if union:
                ious.append(inter / union)
        out.append(sum(ious) / len(ious))
    return torch.tensor(out)


def _requested(scene) -> list[RequestedObject]:
    return [RequestedObject(o.shape, o.color, o.box) for o in scene.objects]


def _generate(pipe, prompts: list[str], seed: int, steps: int, guidance: float, batch: int, **kw) -> Any:
    """Images and layouts (GCDP) or images (SD), one seeded generator per prompt index."""
    images, layouts = [], []
    for i in range(0, len(prompts), batch):
        chunk = prompts[i : i + batch]
        gens = [torch.Generator().manual_seed(seed * 100003 + i + j) for j in range(len(chunk))]
        extra = {k: (v[i : i + batch] if torch.is_tensor(v) else v) for k, v in kw.items()}
        out = pipe(
            chunk,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=gens,
            output_type="pt",
            **extra,
        )
        images.append(out.images.float().cpu())
        if hasattr(out, "layouts"):
            layouts.append(out.layouts)
    return torch.cat(images), (torch.cat(layouts) if layouts else None)


@torch.no_grad()
def evaluate_gcdp(
    pipe,
    judge,
    seed: int,
    n: int = 32,
    sd_pipe=None,
    steps: int = 25,
    guidance: float = 5.0,
    batch: int = 16,
    temperature: float = LAYOUT_TEMPERATURE,
    diagnose: bool = False,
    layout_guidance: float = LAYOUT_GUIDANCE_SCALE,
    reveal_order: RevealOrder | None = None,
    layout_fraction: float = LAYOUT_FRACTION,
    measures: Sequence[str] = MEASURES,
) -> dict[str, float]:
    """The measures of the module docstring for one seed (scenes and noise both drawn from ``seed``); with
    ``pipe=None`` only the toy SD's. ``diagnose`` adds ``gcdp_masked_layout_two_object_both_right``: the same
    prompts and noise with the layout held at ``[MASK]`` (the joint denoiser's image side alone), which tells
    what the sampled layout does to the image apart from what training did to the trunk. ``layout_guidance``
    (the pipeline's ``layout_guidance_scale``) guides the joint mode and layout -> image; segmentation is run
    unguided, as before. ``reveal_order`` and ``layout_fraction`` set the layout's sampling (the joint mode and
    segmentation);
    ``measures`` picks some of :data:`MEASURES`."""
    unknown = sorted(set(measures) - set(MEASURES))
    if unknown:
        raise ValueError(f"unknown measures {unknown}; use some of {', '.join(MEASURES)}")
    base = pipe if pipe is not None else sd_pipe
    factor = base.vae_scale_factor
    latent = base.unet.config.sample_size if pipe is None else pipe.denoiser.config.trunk["sample_size"]
    size = latent * factor
    world = ShapesWorld(size)
    colors = pipe is not None and pipeline_layout_colors(pipe)
    out: dict[str, float] = {}
    for count, key, name in ((2, "two_object_both_right", "two"), (3, "three_object_all_right", "three")):
        if name not in measures:
            continue
        scenes = [world.scene(SCENE_SEED + seed, "test", i, n_objects=count) for i in range(n)]
        prompts = [s.caption() for s in scenes]
        if sd_pipe is not None:
            sd_pipe.set_progress_bar_config(disable=True)
            sd_images, _ = _generate(sd_pipe, prompts, seed + 10 * count, steps, guidance, batch)
            sd_dets = judge.detect(sd_images)
            hits = [score_image(p, _requested(s), d).all_present for p, s, d in zip(prompts, scenes, sd_dets)]
            out[f"sd_{key}"] = sum(hits) / n
        if pipe is None:
            continue
        pipe.set_progress_bar_config(disable=True)
        t0 = time.time()
        images, layouts = _generate(
            pipe,
            prompts,
            seed + 10 * count,
            steps,
            guidance,
            batch,
            temperature=temperature,
            layout_guidance_scale=layout_guidance,
            reveal_order=reveal_order,
            layout_fraction=layout_fraction,
        )
        out[f"gcdp_seconds_per_image_{count}"] = (time.time() - t0) / n
        dets = judge.detect(images)
        hits = [score_image(p, _requested(s), d).all_present for p, s, d in zip(prompts, scenes, dets)]
        out[f"gcdp_{key}"] = sum(hits) / n
        if count == 2 and diagnose:
            alone, _ = _generate(
                pipe, prompts, seed + 10 * count, steps, guidance, batch, reveal_layout=False
            )
            hits = [
                score_image(p, _requested(s), d).all_present
                for p, s, d in zip(prompts, scenes, judge.detect(alone))
            ]
            out["gcdp_masked_layout_two_object_both_right"] = sum(hits) / n
        if count == 2:
            implied = implied_layouts(dets, size, factor, colors)
            out["layout_image_miou"] = layout_miou(layouts, implied).mean().item()
            if colors:  # the shape layouts' measure: colour classes mapped to their shapes
                shapes = implied_layouts(dets, size, factor)
                out["layout_image_miou_shapes"] = layout_miou(shape_classes(layouts), shapes).mean().item()
    if pipe is None or not {"layout_to_image", "segmentation"} & set(measures):
        return out
    # layout -> image: the exact layouts of held-out scenes
    real = world.batch(SCENE_SEED + seed, "val", 0, n, n_objects=(2, 3))
    given = downsample_classes(semantic_maps(real.scenes, real.masks, colors), factor)  # (n, h, w)
    if "layout_to_image" in measures:
        out.update(
            _layout_to_image(pipe, judge, real, given, seed, steps, guidance, batch, layout_guidance, colors)
        )
    if "segmentation" in measures:
        # image -> layout on the real scenes, and the judge's own reading of them (the agreement measure's ceiling)
        _, seg = _generate(
            pipe,
            real.captions,
            seed + 50,
            steps,
            1.0,
            batch,
            image=real.images,
            temperature=0.0,
            reveal_order=reveal_order,
            layout_fraction=layout_fraction,
        )
        out["segmentation_miou"] = layout_miou(seg, given).mean().item()
        out["judge_layout_miou_real"] = (
            layout_miou(given, implied_layouts(judge.detect(real.images), size, factor, colors)).mean().item()
        )
    return out


def _layout_to_image(
    pipe, judge, real, given, seed, steps, guidance, batch, layout_guidance, colors=False
) -> dict[str, float]:
    """The layout -> image measures of the module docstring on the real scenes ``real`` and their layouts
    ``given`` `(n, h, w)` (``colors``: colour layouts)."""
    n, factor = len(real.captions), pipe.vae_scale_factor
    size = given.shape[-1] * factor
    out: dict[str, float] = {}
    images, _ = _generate(
        pipe,
        real.captions,
        seed + 40,
        steps,
        guidance,
        batch,
        layout=given,
        layout_guidance_scale=layout_guidance,
    )
    dets = judge.detect(images)
    scores = [score_image(p, _requested(s), d) for p, s, d in zip(real.captions, real.scenes, dets)]
    out["layout_to_image_mean_iou"] = sum(s.mean_iou for s in scores) / n
    out["layout_to_image_all_in_box"] = sum(s.all_in_box for s in scores) / n
    out["layout_to_image_all_present"] = sum(s.all_present for s in scores) / n
    out["layout_to_image_map_miou"] = (
        layout_miou(given, implied_layouts(dets, size, factor, colors)).mean().item()
    )
    if colors:
        shapes = layout_miou(shape_classes(given), implied_layouts(dets, size, factor))
        out["layout_to_image_map_miou_shapes"] = shapes.mean().item()
    return out


def _summary(rows: list[dict[str, float]]) -> dict[str, dict[str, Any]]:
    out = {}
    for key in rows[0]:
        vals = [r[key] for r in rows]
        mean = sum(vals) / len(vals)
        se = (
            math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1) / len(vals))
            if len(vals) > 1
            else 0.0
        )
        out[key] = {"mean": mean, "se": se, "per_seed": vals}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="GCDP against the toy SD on held-out toy-world prompts")
    parser.add_argument("--model", default=None, help="a GCDPPipeline folder (default: toyworld/models/gcdp)")
    parser.add_argument(
        "--checkpoint", default=None, help="a `workbench toy train gcdp` checkpoint (EMA weights)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n", type=int, default=32, help="prompts per measure and seed")
    parser.add_argument("--steps", type=int, default=WORKBENCH_SAMPLING.num_inference_steps)
    parser.add_argument("--guidance", type=float, default=WORKBENCH_SAMPLING.guidance_scale)
    parser.add_argument("--no-sd", action="store_true", help="skip the toy SD baseline")
    parser.add_argument("--sd-only", action="store_true", help="only the toy SD baseline")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--temperature",
        type=float,
        default=LAYOUT_TEMPERATURE,
        help="the joint mode's layout sampling temperature",
    )
    parser.add_argument(
        "--layout-guidance",
        type=float,
        default=LAYOUT_GUIDANCE_SCALE,
        help="layout guidance of the joint mode and layout -> image (1: none)",
    )
    parser.add_argument(
        "--reveal-order",
        choices=REVEAL_ORDERS,
        default=None,
        help="which masked layout cells each step reveals, joint mode and segmentation (default: each mode's own)",
    )
    parser.add_argument(
        "--layout-fraction",
        type=float,
        default=LAYOUT_FRACTION,
        help="the layout is fully revealed within this share of the steps, in (0, 1] (joint mode and segmentation)",
    )
    parser.add_argument(
        "--measures",
        nargs="+",
        choices=MEASURES,
        default=list(MEASURES),
        help="which measures to run (two: two-object prompts and the layout/image agreement)",
    )
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="also the two-object measure with the layout held masked (the image side without the sampled layout)",
    )
    args = parser.parse_args(argv)
    if args.layout_guidance < 0:
        parser.error(f"--layout-guidance {args.layout_guidance}: give a scale >= 0 (1: no layout guidance)")
    if not 0 < args.layout_fraction <= 1:
        parser.error(f"--layout-fraction {args.layout_fraction}: give a share of the steps in (0, 1]")
    if args.threads:
        torch.set_num_threads(args.threads)
    from diffusers import StableDiffusionPipeline

    if args.sd_only:
        pipe, source = None, {"model": "toy SD only"}
    elif args.checkpoint:
        state = load_checkpoint(__import__("pathlib").Path(args.checkpoint).expanduser())
        if state is None:
            parser.error(f"no checkpoint at {args.checkpoint}; train with `workbench toy train gcdp` first")
        pipe = pipeline_from_checkpoint(state)
        source = {"checkpoint": args.checkpoint, "step": state["step"], "minutes": state["seconds"] / 60}
    else:
        pipe = load_gcdp_pipeline(args.model)
        source = {"model": str(args.model or "toyworld/models/gcdp")}
    judge = ShapesJudge.from_pretrained(MODELS_DIR / "judge").eval()
    sd = None
    if not args.no_sd:
        sd = StableDiffusionPipeline.from_pretrained(
            str(MODELS_DIR / "sd"), safety_checker=None, requires_safety_checker=False
        )
    rows = []
    for seed in args.seeds:
        row = evaluate_gcdp(
            pipe,
            judge,
            seed,
            args.n,
            sd,
            args.steps,
            args.guidance,
            temperature=args.temperature,
            diagnose=args.diagnose,
            layout_guidance=args.layout_guidance,
            reveal_order=args.reveal_order,
            layout_fraction=args.layout_fraction,
            measures=args.measures,
        )
        print(json.dumps({"seed": seed, **row}), flush=True)
        rows.append(row)
    print(
        json.dumps(
            {
                **source,
                "temperature": args.temperature,
                "layout_guidance": args.layout_guidance,
                "reveal_order": args.reveal_order or "each mode's default",
                "layout_fraction": args.layout_fraction,
                "n": args.n,
                "seeds": args.seeds,
                "summary": _summary(rows),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
