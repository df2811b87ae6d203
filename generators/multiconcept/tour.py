"""The tour's ``multiconcept`` step: one two-concept composition with FreeCustom's MRSA and without."""

from __future__ import annotations

from generators.multiconcept.concept import Concept
from generators.multiconcept.pipeline_multiconcept import MultiConceptPipeline
from generators.multiconcept.toy_concepts import sample_compositions
from workbench.experiments_builtin.tour import register_tour_step


@register_tour_step("multiconcept")
def tour_multiconcept(ctx, result) -> None:
    """Compose two toy concepts from one reference each, beside the text-only baseline."""
    size = result.images.shape[-1]
    comp = sample_compositions(ctx.runtime.numpy_rng("tour", "multiconcept"), count=1, size=2)[0]
    concepts = []
    for c in comp.concepts:
        ref, mask = c.render(size)  # (3, size, size) in [0, 1], (size, size) bool
        concepts.append(Concept(ref, c.prompt, mask))
    pipe = MultiConceptPipeline.from_pipe(result.pipeline)
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
        "Multi-concept composition (references, then generated)",
        refs + images,
        captions=[c.prompt for c in concepts] + captions,
        ncols=4,
    )
