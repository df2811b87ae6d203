"""The models a benchmark run needs, loaded once: SD (txt2img + img2img sharing modules), CLIP,
the judge and the captioner. ``dummy`` gives random-weight components (tests, smoke runs)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from attacks.image.models import AttackModels
from attacks.paraphrase.captioners import TransformersCaptioner, load_captioner
from workbench.dummy import dummy_captioner, dummy_clip, dummy_sd_pipeline
from workbench.loading import ModelNotAvailableError, resolve_model
from workbench.runtime import Runtime

logger = logging.getLogger(__name__)

DUMMY = "dummy"


@dataclass
class BenchModels:
    """Loaded models of one run.

    Attributes:
        txt2img: a `StableDiffusionPipeline` (generation, Tree-Ring, Gaussian Shading).
        img2img: a `StableDiffusionImg2ImgPipeline` sharing its modules (model-backed attacks).
        clip: ``(CLIPModel, CLIPProcessor)`` or ``None``.
        judge: a shapes-world judge with ``detect(images)`` or ``None``.
        captioners: name -> captioner for the paraphrase attacks.
        notes: what was skipped and why (written into the report).
    """

    txt2img: Any
    img2img: Any
    clip: tuple[Any, Any] | None
    judge: Any
    captioners: dict[str, Any]
    notes: list[str]

    def attack_models(self, model_name: str, runtime: Runtime) -> AttackModels:
        return AttackModels(
            runtime=runtime, img2img={model_name: self.img2img}, captioners=dict(self.captioners)
        )


def load_judge(name: str) -> Any:
    """The shapes-world judge of a preset (``toy``) or folder."""
    from toyworld.judge import ShapesJudge  # deferred: diffusers

    resolved = resolve_model(name, kind="judge")
    if not resolved.available or resolved.local_path is None:
        raise ModelNotAvailableError(f"judge {name!r} is not available: {resolved.reason}")
    return ShapesJudge.from_pretrained(str(resolved.local_path)).eval()


def load_bench_models(
    model: str, clip: str | None, judge: str | None, captioner_names: list[str], runtime: Runtime
) -> BenchModels:
    """Load every model of a run onto the runtime's device and dtype.

    Raises:
        workbench.loading.ModelNotAvailableError: a model that cannot be loaded here (the message
            says how to get it).
    """
    from diffusers import StableDiffusionImg2ImgPipeline

    notes: list[str] = []
    if model == DUMMY:
        txt2img = dummy_sd_pipeline("txt2img", runtime=runtime)
        notes.append("model 'dummy': random-weight SD components; the numbers only show that the code runs")
    else:
        # deferred: torch, diffusers, transformers (loaded on first use)
        from workbench.loading import load_sd_pipeline

        txt2img = load_sd_pipeline(model, runtime, kind="txt2img")
    txt2img.set_progress_bar_config(disable=True)
    img2img = StableDiffusionImg2ImgPipeline(**txt2img.components, requires_safety_checker=False)
    img2img.set_progress_bar_config(disable=True)

    clip_pair = None
    if clip == DUMMY:
        clip_pair = dummy_clip(runtime=runtime)
    elif clip is not None:
        # deferred: torch, diffusers, transformers (loaded on first use)
        from workbench.loading import load_clip

        clip_pair = load_clip(clip, runtime)
    else:
        notes.append("clip: None, so CLIP-I and caption faithfulness are not computed")

    judge_model = None
    if judge is not None and judge != DUMMY:
        judge_model = load_judge(judge).to(runtime.device)
    else:
        notes.append("judge: none, so content preservation is not computed")

    captioners: dict[str, Any] = {}
    for name in sorted(set(captioner_names)):
        if name == DUMMY:
            captioners[name] = TransformersCaptioner(*dummy_captioner(runtime=runtime), max_new_tokens=12)
        else:
            captioners[name] = load_captioner(name, runtime)
    return BenchModels(txt2img, img2img, clip_pair, judge_model, captioners, notes)
