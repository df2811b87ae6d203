"""The tour's ``layout`` step: plan boxes from a prompt, then generate with and without box guidance."""

from __future__ import annotations

from generators.layout.box_guidance import BoxGuidanceConfig, StableDiffusionBoxGuidancePipeline
from generators.layout.box_guidance.generator import derived_pipeline
from generators.layout.planner.shapes import ShapesGrammarPlanner
from workbench.experiments_builtin.tour import register_tour_step

TOUR_PROMPT = "a large red circle on the left and a large blue square on the right"


@register_tour_step("layout")
def tour_layout(ctx, result) -> None:
    """Boxes from the rule-based planner, box guidance (``fast``) against the plain pipeline."""
    layout = ShapesGrammarPlanner().plan(TOUR_PROMPT)
    pipe = derived_pipeline(StableDiffusionBoxGuidancePipeline, result.pipeline)
    pipe.set_progress_bar_config(disable=True)
    images, captions = [], []
    for guided in (True, False):
        out = pipe(
            TOUR_PROMPT,
            layout=layout,
            guidance=BoxGuidanceConfig.preset("fast") if guided else None,
            num_inference_steps=10,
            guidance_scale=5.0,
            generator=ctx.runtime.generator("tour", "layout"),
            output_type="pt",
        )
        images.append(out.images[0].float().cpu())
        captions.append("box guidance" if guided else "no layout")
    ctx.report.add_images("Layout-aware generation: " + TOUR_PROMPT, images, captions=captions, ncols=4)
    ctx.report.add_table(
        "Planned layout", [{"phrase": p, "box (xyxy)": str(b)} for p, b in zip(layout.phrases, layout.boxes)]
    )
