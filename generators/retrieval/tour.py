"""The tour's ``retrieval`` step: a small entity knowledge base, a search, and generation with and
without the retrieved references."""

from __future__ import annotations

from generators.retrieval.embedder import ClipEmbedder
from generators.retrieval.knowledge_base import KnowledgeBase
from generators.retrieval.pipeline_retrieval import RetrievalAugmentedPipeline
from generators.retrieval.retriever import retrieve
from generators.retrieval.sources import ToyEntitySource
from workbench.experiments_builtin.tour import register_tour_step

TOUR_PROMPT = "a blorft emblem in the center"  # an entity the toy generator never saw in training
TOUR_ENTITIES = ("blorft", "zorvik", "quaddle", "xandro")


@register_tour_step("retrieval")
def tour_retrieval(ctx, result) -> None:
    """Build a 4-entity knowledge base with the tour's CLIP, retrieve for an unseen entity, generate."""
    if result.clip is None:
        ctx.report.add_text(
            "No CLIP model in this tour (score.clip: none): retrieval skipped.", title="Retrieval"
        )
        return
    model, processor, name = result.clip
    size = result.images.shape[-1]
    source = ToyEntitySource(
        views_per_entity=2, seed=ctx.runtime.seed, image_size=size, entities=TOUR_ENTITIES
    )
    kb = KnowledgeBase.build(ctx.dir / "outputs" / "kb", source, ClipEmbedder(model, processor, name=name))
    neighbours = retrieve(kb, [TOUR_PROMPT], k=2, target="text")
    pipe = RetrievalAugmentedPipeline.from_pipe(result.pipeline)
    pipe.set_progress_bar_config(disable=True)
    images, captions = list(neighbours[0].images), [f"retrieved: {t}" for t in neighbours[0].texts]
    for use in (True, False):
        out = pipe(
            TOUR_PROMPT,
            neighbours=neighbours if use else None,
            mode="reference",
            num_inference_steps=10,
            guidance_scale=5.0,
            generator=ctx.runtime.generator("tour", "retrieval"),
            output_type="pt",
        )
        images.append(out.images[0].float().cpu())
        captions.append(("with retrieval: " if use else "without retrieval: ") + TOUR_PROMPT)
    ctx.report.add_images(
        f"Retrieval-augmented generation (knowledge base: {len(kb)} entries)", images, captions, ncols=4
    )
