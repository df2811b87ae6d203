"""The tour's ``layout`` step: held-out two-object prompts, their planned boxes, and the stock pipeline
against box guidance and region prompts on the same noise, each image with its boxes drawn and the
judge's verdict (every object in its box)."""

from __future__ import annotations

import numpy as np
import torch

from generators.layout.experiment import LayoutPrompts, eval_scenes, load_judge
from generators.layout.methods import layout_request
from generators.layout.planner.shapes import ShapesGrammarPlanner
from generators.layout.regions import RegionsConfig
from generators.layout.scoring import RequestedObject, score_image
from generators.layout.visual import draw_boxes
from workbench.experiments_builtin.steps import register_tour_step
from workbench.generation import build_generator

METHODS = ("stock", "box_guidance", "regions")
PROMPTS = 4
STEPS = 25  # the layout evaluation's sampling (guidance 5)


@register_tour_step("layout")
def tour_layout(ctx, result) -> None:
    """Stock, box guidance and regions on four held-out two-object prompts, judged."""
    planner = ShapesGrammarPlanner()
    prompts = [s.caption() for s in eval_scenes(LayoutPrompts(counts={2: PROMPTS}))]
    layouts = [planner.plan(p) for p in prompts]
    regions = [planner.region_prompts(p) for p in prompts]
    judge = load_judge("auto", ctx.runtime, required=False)
    options = {"regions": RegionsConfig.for_model(result.source)}
    images, captions, rows = [], [], []
    for name in METHODS:
        generator = build_generator(name, result.pipeline, options.get(name))
        gens = [ctx.runtime.generator("tour", "layout", i) for i in range(len(prompts))]
        out = generator(layout_request(prompts, layouts, regions, gens, STEPS, 5.0))  # (P, 3, H, W)
        verdicts = _judge(judge, out, prompts, planner)
        scale = max(1, 192 // out.shape[-1])
        for i, image in enumerate(out):
            boxed = draw_boxes(image, layouts[i].boxes, None, scale=scale)
            images.append(torch.from_numpy(np.array(boxed)).permute(2, 0, 1).float() / 255)  # (3, H, W)
            mark = "" if verdicts is None else (" (all in box)" if verdicts[i] else " (missed)")
            captions.append(f"{name}{mark}")
        if verdicts is not None:
            rows.append({"method": name, "all objects in their boxes": f"{sum(verdicts)}/{len(verdicts)}"})
    ctx.report.add_images(
        "Layout-aware generation: the planned boxes drawn over each method's image",
        images,
        captions=captions,
        ncols=len(prompts),
    )
    ctx.report.add_table(
        "Prompts and their planned boxes",
        [
            {
                "prompt": p,
                "boxes (xyxy)": "; ".join(f"{ph}: {_fmt(b)}" for ph, b in zip(lay.phrases, lay.boxes)),
            }
            for p, lay in zip(prompts, layouts)
        ],
    )
    if rows:
        ctx.report.add_table("Judge: images with every object in its box", rows)
        ctx.report.add_text(
            "On 96 held-out two-object prompts, region prompts put every object in its box 35 points more often "
            "than the stock toy SD (docs/layout.md, `workbench run examples/layout_eval.yaml`).",
            title="Layout: the measured claim",
        )


def _fmt(box) -> str:
    return "(" + ", ".join(f"{v:.2f}" for v in box) + ")"


def _judge(judge, images, prompts, planner) -> list[bool] | None:
    """Whether every planned object is found in its box, per image (``None`` without the toy judge)."""
    if judge is None:
        return None
    detections = judge.detect(images.float())
    verdicts = []
    for prompt, dets in zip(prompts, detections):
        requested = [RequestedObject(o.parsed.shape, o.parsed.color, o.box) for o in planner.objects(prompt)]
        verdicts.append(score_image(prompt, requested, dets, 0.5).all_in_box)
    return verdicts
