"""Model choice of the built-in experiments: ``dummy``, ``auto`` (toy world if trained) or a name."""

from __future__ import annotations

import logging
from typing import Any

from workbench.dummy import dummy_clip, dummy_sd_pipeline
from workbench.loading import resolve_model
from workbench.runtime import Runtime

logger = logging.getLogger(__name__)

DUMMY = "dummy"
AUTO = "auto"


def resolve_choice(choice: str, kind: str) -> str:
    """``"auto"`` -> ``"toy"`` when the toy model of ``kind`` is available here, else ``"dummy"``."""
    if choice != AUTO:
        return choice

    resolved = resolve_model("toy", kind=kind)
    if resolved.available:
        return "toy"
    logger.warning(
        "toy %s model not available (%s); using random-weight dummy components", kind, resolved.reason
    )
    return DUMMY


def build_sd_pipeline(choice: str, runtime: Runtime, image_size: int | None = None) -> tuple[Any, str]:
    """``(txt2img pipeline, description)`` for a model choice."""
    name = resolve_choice(choice, "sd")
    if name == DUMMY:
        pipe = dummy_sd_pipeline(runtime=runtime, image_size=image_size or 32)
        return pipe, "dummy (random-weight SD-1.5-shaped components; the images are noise-like by design)"
    # deferred: torch, diffusers, transformers (loaded on first use)
    from workbench.loading import load_sd_pipeline

    pipe = load_sd_pipeline(name, runtime)
    pipe.set_progress_bar_config(disable=True)
    return pipe, name


def build_clip(choice: str, runtime: Runtime) -> tuple[Any, Any, str] | None:
    """``(CLIPModel, processor, description)`` for a model choice, or ``None`` for ``"none"``."""
    if choice == "none":
        return None
    name = resolve_choice(choice, "clip")
    if name == DUMMY:
        model, processor = dummy_clip(runtime=runtime)
        return model, processor, "dummy (random-weight CLIP)"
    from workbench.loading import load_clip  # deferred: torch, diffusers, transformers (loaded on first use)

    model, processor = load_clip(name, runtime)
    return model, processor, name
