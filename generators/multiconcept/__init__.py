"""Multi-concept generation from one reference image per concept (FreeCustom): the pipeline, the concept
type, the baselines (text only, img2img from a collage) and the toy-world benchmark experiment.

Example:
    >>> from generators.multiconcept import MultiConceptPipeline
    >>> from workbench.dummy import dummy_sd_pipeline
    >>> type(MultiConceptPipeline.from_pipe(dummy_sd_pipeline())).__name__
    'MultiConceptPipeline'

Names are imported on first use, so ``import generators.multiconcept.cli`` stays fast.
"""

from __future__ import annotations

from workbench.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "MAX_CONCEPTS": "generators.multiconcept.concept",
    "Concept": "generators.multiconcept.concept",
    "ConceptError": "generators.multiconcept.concept",
    "PreparedConcepts": "generators.multiconcept.concept",
    "prepare_concepts": "generators.multiconcept.concept",
    "MultiConceptPipeline": "generators.multiconcept.pipeline_multiconcept",
    "MultiConceptPipelineOutput": "generators.multiconcept.pipeline_multiconcept",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
