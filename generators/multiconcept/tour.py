"""The tour's ``multiconcept`` step: one two-concept composition with FreeCustom's MRSA and without, on the
toy SD trained across images (``toy-ref``) when the tour runs on the toy SD and it is shipped."""

from __future__ import annotations

from generators.multiconcept.concept import Concept
from generators.multiconcept.pipeline_multiconcept import MultiConceptPipeline
from generators.multiconcept.toy_concepts import sample_compositions
from workbench.experiments_builtin.tour import register_tour_step


def _pipeline(ctx, result):
    """``(pipeline, source)``: ``toy-ref`` (with the tour's scheduler) when the tour runs on the toy SD and
    ``toy-ref`` is here, else the tour's own pipeline."""
    from workbench.loading import load_sd_pipeline, resolve_model

    if result.source != "toy" or not resolve_model("toy-ref", kind="sd").available:
        return result.pipeline, result.source
    pipe = load_sd_pipeline("toy-ref", ctx.runtime)
    pipe.scheduler = type(result.pipeline.scheduler).from_config(result.pipeline.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe, "toy-ref"


@register_tour_step("multiconcept")
def tour_multiconcept(ctx, result) -> None:
    """Compose two toy concepts from one reference each, beside the text-only baseline."""
    size = result.images.shape[-1]
    comp = sample_compositions(ctx.runtime.numpy_rng("tour", "multiconcept"), count=1, size=2)[0]
    concepts = []
    for c in comp.concepts:
        ref, mask = c.render(size)  # (3, size, size) in [0, 1], (size, size) bool
        concepts.append(Concept(ref, c.prompt, mask))
    base, source = _pipeline(ctx, result)
    ctx.logger.info("multiconcept: generator %s", source)
    pipe = MultiConceptPipeline.from_pipe(base)
    images, captions = [], []
    for mrsa in (True, False):
        out = pipe(
            comp.prompt,
            concepts,
            mrsa=mrsa,
            num_inference_steps=10,
            guidance_scale=7.5,
            generator=ctx.runtime.generator("tour", "multiconcept"),
            output_type="pt",
        )
        images.append(out.images[0].float().cpu())
        captions.append(("FreeCustom (MRSA): " if mrsa else "text only: ") + comp.prompt)
    refs = [c.image for c in concepts]
    ctx.report.add_images(
        f"Multi-concept composition (references, then generated; {source})",
        refs + images,
        captions=[c.prompt for c in concepts] + captions,
        ncols=4,
    )
