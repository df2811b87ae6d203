"""The tour's ``retrieval`` step: a small entity knowledge base, a search, and generation with and
without the retrieved neighbour blended in (the mode that meets the retrieval claim), judged."""

from __future__ import annotations

import torch

from generators.layout.experiment import load_judge
from generators.retrieval.boxes import prompt_box
from generators.retrieval.embedder import ClipEmbedder
from generators.retrieval.experiment import RetrievalSection
from generators.retrieval.guidance import GuidanceConfig
from generators.retrieval.knowledge_base import KnowledgeBase
from generators.retrieval.pipeline_retrieval import RetrievalAugmentedPipeline
from generators.retrieval.retriever import retrieve
from generators.retrieval.sources import ToyEntitySource
from workbench.experiments_builtin.steps import register_tour_step
from workbench.sampling import WORKBENCH_SAMPLING

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
    kb = KnowledgeBase.build(
        ctx.dir / "outputs" / "kb", source, ClipEmbedder(model, processor, name=name), runtime=ctx.runtime
    )
    neighbours = retrieve(kb, [TOUR_PROMPT], k=2, target=RetrievalSection().target)
    pipe = RetrievalAugmentedPipeline.from_pipe(result.pipeline)
    pipe.set_progress_bar_config(disable=True)
    images, captions = list(neighbours[0].images), [f"retrieved: {t}" for t in neighbours[0].texts]
    entity = neighbours[0].meta[0].get("entity") if neighbours[0].meta else None
    outs = []
    for use in (True, False):
        out = pipe(
            TOUR_PROMPT,
            neighbours=neighbours if use else None,
            mode="blend" if use else "auto",
            guidance=GuidanceConfig(scheme="single", guidance_scale=WORKBENCH_SAMPLING.guidance_scale),
            target_boxes=[prompt_box(TOUR_PROMPT, entity)] if use and entity else None,
            **WORKBENCH_SAMPLING.as_dict(),
            generator=ctx.runtime.generator("tour", "retrieval"),
            output_type="pt",
        )
        outs.append(out.images[0].float().cpu())
    judge = load_judge("auto", ctx.runtime, required=False)
    drawn = None
    if judge is not None:
        drawn = [any(d.entity == "blorft" for d in dets) for dets in judge.detect(torch.stack(outs))]
    for use, image, k in zip((True, False), outs, range(2)):
        images.append(image)
        verdict = "" if drawn is None else (" (judge: blorft drawn)" if drawn[k] else " (judge: not drawn)")
        captions.append(
            ("with retrieval (blend): " if use else "without retrieval: ") + TOUR_PROMPT + verdict
        )
    ctx.report.add_images(
        f"Retrieval-augmented generation (knowledge base: {len(kb)} entries)", images, captions, ncols=4
    )
    ctx.report.add_text(
        "On 32 held-out prompts per bucket, blending the retrieved neighbour lets the toy SD draw unseen "
        "entities in 72 % of images, against 19 % without retrieval (docs/retrieval.md, "
        "`workbench run examples/retrieval_entitydrawbench.yaml --set 'retrieval.modes=[blend]'`).",
        title="Retrieval: the measured claim",
    )
