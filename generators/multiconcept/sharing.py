"""Build one Stable Diffusion pipeline class from another pipeline's components, sharing them.

diffusers' ``DiffusionPipeline.from_pipe`` casts the shared modules to float32 unless it is told a dtype,
which silently changes the original pipeline too (an fp16 pipeline becomes fp32). This helper shares the
modules as they are: no copy, no cast, no device move.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["share_components"]


def share_components(cls: type, pipe: Any, **overrides: Any) -> Any:
    """A ``cls`` pipeline (``StableDiffusionPipeline``-shaped constructor) around ``pipe``'s modules.

    Args:
        cls: the pipeline class to build.
        pipe: a pipeline whose ``components`` hold at least ``vae``, ``text_encoder``, ``tokenizer``,
            ``unet`` and ``scheduler``.
        overrides: components to replace (e.g. ``scheduler=``).

    Returns:
        The new pipeline, with ``pipe``'s progress-bar settings.
    """
    params = inspect.signature(cls.__init__).parameters
    components = {k: v for k, v in pipe.components.items() if k in params}
    components.update(overrides)
    missing = [
        k for k in ("vae", "text_encoder", "tokenizer", "unet", "scheduler") if components.get(k) is None
    ]
    if missing:
        raise ValueError(
            f"{type(pipe).__name__} lacks {', '.join(missing)}; an SD-1.x / 2.x-shaped pipeline is needed "
            "(vae, text_encoder, tokenizer, unet, scheduler)"
        )
    for optional in ("safety_checker", "feature_extractor", "image_encoder"):
        if optional in params:
            components.setdefault(optional, None)
    if "requires_safety_checker" in params:
        components["requires_safety_checker"] = components.get("safety_checker") is not None
    out = cls(**components)
    out.set_progress_bar_config(**getattr(pipe, "_progress_bar_config", {}))
    return out
