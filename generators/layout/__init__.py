"""Layout-aware generation: phrases with boxes (or a semantic label map) in, faithful compositions out.

- :class:`BoxLayout` / :class:`SemanticLayout`: the validated layout types (normalised xyxy boxes).
- :class:`StableDiffusionBoxGuidancePipeline`: training-free box guidance (BoxDiff, layout guidance).
- :class:`StableDiffusionRegionsPipeline`: region prompts fused per denoising step (MultiDiffusion).
- GLIGEN-style grounding on the toy world: :mod:`generators.layout.gligen`, :mod:`generators.layout.train_gligen`.
- Planners (prompt -> layout): :mod:`generators.layout.planner`; PAID-style graphics: :mod:`generators.layout.graphics`,
  posters (:mod:`generators.layout.poster`) and the background generated around a product image
  (:func:`generate_background`, diffusers' inpainting pipeline on the text-to-image UNet).

Names are imported on first use, so ``import generators.layout.cli`` stays fast.
"""

from __future__ import annotations

from workbench.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "BoxLayout": "generators.layout.layout",
    "SemanticLayout": "generators.layout.layout",
    "LayoutError": "generators.layout.layout",
    "BoxGuidanceConfig": "generators.layout.box_guidance",
    "StableDiffusionBoxGuidancePipeline": "generators.layout.box_guidance",
    "RegionsConfig": "generators.layout.regions",
    "StableDiffusionRegionsPipeline": "generators.layout.regions",
    "AttentionStore": "generators.layout.processors",
    "recording_processors": "generators.layout.processors",
    "PLANNERS": "generators.layout.planner",
    "ShapesGrammarPlanner": "generators.layout.planner",
    "LLMPlanner": "generators.layout.planner",
    "TextItem": "generators.layout.graphics",
    "render_text_items": "generators.layout.graphics",
    "generate_background": "generators.layout.background",
    "generate_product_poster": "generators.layout.poster",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
