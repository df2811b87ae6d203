"""Multi-concept generation from one reference image per concept (FreeCustom): the pipeline, the concept
type, the baselines (text only, img2img from a collage) and the toy-world benchmark experiment.

Example:
    >>> from generators.multiconcept import MultiConceptPipeline
    >>> from workbench.dummy import dummy_sd_pipeline
    >>> type(MultiConceptPipeline.from_pipe(dummy_sd_pipeline())).__name__
    'MultiConceptPipeline'
"""

from generators.multiconcept.concept import (
    MAX_CONCEPTS,
    Concept,
    ConceptError,
    PreparedConcepts,
    prepare_concepts,
)
from generators.multiconcept.pipeline_multiconcept import MultiConceptPipeline, MultiConceptPipelineOutput

__all__ = [
    "MAX_CONCEPTS",
    "Concept",
    "ConceptError",
    "MultiConceptPipeline",
    "MultiConceptPipelineOutput",
    "PreparedConcepts",
    "prepare_concepts",
]
