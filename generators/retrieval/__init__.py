"""Retrieval-augmented generation (Re-Imagen): a multimodal knowledge base of (image, text) pairs with CLIP
embeddings, retrieval of a prompt's neighbours, and generation conditioned on them, training-free
(reference attention) or trained (neighbour tokens in cross-attention), with single or interleaved
classifier-free guidance; the toy EntityDrawBench experiment measures it.

Example:
    >>> from generators.retrieval import GuidanceConfig
    >>> GuidanceConfig(scheme="interleaved", ratio=0.25).step_kinds(4)
    ['retrieval', 'retrieval', 'retrieval', 'text']
"""

from __future__ import annotations

from workbench.lazy import lazy_exports

# Names are imported on first use, so `import generators.retrieval.cli` (a CLI plugin) stays fast.
_EXPORTS: dict[str, str] = {
    "AddResult": "generators.retrieval.knowledge_base",
    "ClipEmbedder": "generators.retrieval.embedder",
    "DedupSettings": "generators.retrieval.manifest",
    "FolderSource": "generators.retrieval.sources",
    "ForeignEmbedderError": "generators.retrieval.manifest",
    "GuidanceConfig": "generators.retrieval.guidance",
    "IndexSettings": "generators.retrieval.index",
    "KBItem": "generators.retrieval.sources",
    "KnowledgeBase": "generators.retrieval.knowledge_base",
    "KnowledgeBaseError": "generators.retrieval.manifest",
    "RetrievalAugmentedPipeline": "generators.retrieval.pipeline_retrieval",
    "RetrievalConditioner": "generators.retrieval.conditioner",
    "RetrievalPipelineOutput": "generators.retrieval.pipeline_retrieval",
    "RetrievedNeighbours": "generators.retrieval.retriever",
    "SearchHit": "generators.retrieval.knowledge_base",
    "SourceError": "generators.retrieval.sources",
    "TableSource": "generators.retrieval.sources",
    "ToyEntitySource": "generators.retrieval.sources",
    "interleaved_schedule": "generators.retrieval.guidance",
    "retrieve": "generators.retrieval.retriever",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
