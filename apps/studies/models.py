"""Loading the studies' models once: one CLIP shared by the knowledge base (its embedder), the mining
objective (its scorer) and the detector; the toy judge when it is there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attacks.masterprints.scorers import CLIPScorer
from generators.retrieval.embedder import ClipEmbedder
from toyworld.judge import ShapesJudge
from toyworld.train.registry import MODELS_DIR
from workbench.loading.choice import build_clip
from workbench.runtime import Runtime

__all__ = ["ClipBundle", "load_clip_bundle", "load_judge"]


@dataclass
class ClipBundle:
    """One CLIP seen three ways: ``model`` / ``processor`` (transformers), ``embedder`` (the knowledge
    base's :class:`~generators.retrieval.embedder.ClipEmbedder`), ``scorer`` (the attack's
    :class:`~attacks.masterprints.scorers.CLIPScorer`); ``source`` names it."""

    model: Any
    processor: Any
    embedder: Any
    scorer: Any
    source: str


def load_clip_bundle(choice: str, runtime: Runtime) -> ClipBundle:
    """The CLIP of ``choice`` (``auto``, ``toy``, ``dummy``, a preset, hub id or folder), in eval mode."""
    model, processor, source = build_clip(choice, runtime)
    model.eval()
    embedder = ClipEmbedder(model, processor, name=source)
    scorer = CLIPScorer(model, processor.tokenizer, processor.image_processor, name=source)
    return ClipBundle(model, processor, embedder, scorer, source)


def load_judge(choice: str, runtime: Runtime) -> tuple[Any | None, str]:
    """``(judge or None, description)``: ``auto`` is the trained toy judge when present, ``none`` none."""
    if choice == "none":
        return None, "none"
    folder = MODELS_DIR / "judge" if choice == "auto" else Path(choice)
    if not (folder / "config.json").is_file():
        if choice == "auto":
            return None, "none (no trained toy judge)"
        raise FileNotFoundError(
            f"models.judge: no judge at {str(folder)!r} (no config.json); use 'auto' or 'none'"
        )
    return ShapesJudge.from_pretrained(folder).eval().to(runtime.device), str(folder)
