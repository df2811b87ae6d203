"""Do the boxes matter? Two-object prompts that name their objects without their places, generated with the
objects' boxes as GLIGEN grounding tokens and, as the baseline, by the toy SD from the same captions alone.

Prompts are held-out shapes-world test scenes (:func:`generators.layout.experiment.eval_scenes`), captioned
without position words (``"a large red circle and a small blue square"``: ``words="full"``) or by class
words only (``"a large circle and a small square"``: ``words="class"``; colour is then not scored). The
requested boxes are the scenes' own; the judge's detections are scored by
:mod:`generators.layout.scoring` (all objects found in their boxes at IoU >= 0.5).

    workbench layout eval-gligen --out runs/gligen-eval --seeds 1 2 3   # generators.layout.grounding_runs
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch

from workbench.sampling import WORKBENCH_SAMPLING

from .gligen.pipeline import generate_grounded
from .layout import BoxLayout
from .scoring import RequestedObject, score_image, summarize_scores

__all__ = ["EVAL_WORLD_SEED", "GroundingCase", "grounding_cases", "score_grounding", "stock_pipeline"]

Words = Literal["full", "class"]
EVAL_WORLD_SEED = 7000  # + the evaluation seed: test-split scenes, apart from the trainer's (4242)


class GroundingCase:
    """One prompt: its position-free caption, grounding layout and the objects the judge must find."""

    def __init__(self, scene: Any, words: Words = "full") -> None:
        objs = scene.objects
        self.prompt: str = scene.caption(with_position=False, words=words)
        phrases = [o.phrase(with_position=False) if words == "full" else o.class_phrase(False) for o in objs]
        self.layout = BoxLayout(phrases=phrases, boxes=[o.box for o in objs])
        self.requested = [RequestedObject(o.shape, o.color if words == "full" else None, o.box) for o in objs]


def grounding_cases(n_prompts: int, world_seed: int, words: Words = "full") -> list[GroundingCase]:
    """``n_prompts`` held-out two-object scenes of the test split under ``world_seed``."""
    from .experiment import LayoutPrompts, eval_scenes  # deferred: the experiment module loads the registry

    scenes = eval_scenes(LayoutPrompts(counts={2: n_prompts}, seed=world_seed))
    return [GroundingCase(s, words) for s in scenes]


@torch.no_grad()
def score_grounding(
    cases: Sequence[GroundingCase],
    judge: Any,
    gligen_pipe: Any | None = None,
    sd_pipe: Any | None = None,
    noise_seed: int = 0,
    num_inference_steps: int = 20,
    guidance_scale: float = WORKBENCH_SAMPLING.guidance_scale,
    scheduled_sampling_beta: float = 1.0,
    iou_threshold: float = 0.5,
) -> dict[str, dict[str, float | None]]:
    """Judge-scored summaries (:func:`summarize_scores`) of ``with_boxes`` (``gligen_pipe``, grounding
    tokens in the first ``scheduled_sampling_beta`` of the steps) and ``without_boxes`` (``sd_pipe`` on the
    same captions); image ``i`` starts from noise seed ``noise_seed * 100_003 + i`` in both."""
    prompts = [c.prompt for c in cases]
    gens = lambda: [torch.Generator().manual_seed(noise_seed * 100_003 + i) for i in range(len(cases))]  # noqa: E731
    images: dict[str, torch.Tensor] = {}
    if gligen_pipe is not None:
        images["with_boxes"] = generate_grounded(
            gligen_pipe,
            prompts,
            [c.layout for c in cases],
            gens(),
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            scheduled_sampling_beta=scheduled_sampling_beta,
        )
    if sd_pipe is not None:
        images["without_boxes"] = torch.cat(
            [
                sd_pipe(
                    prompt=p,
                    num_inference_steps=num_inference_steps,
                    guidance_scale=guidance_scale,
                    generator=g,
                    output_type="pt",
                )
                .images.float()
                .cpu()
                for p, g in zip(prompts, gens())
            ]
        )
    out = {}
    for name, ims in images.items():
        dets = judge.detect(ims)
        scores = [score_image(c.prompt, c.requested, d, iou_threshold) for c, d in zip(cases, dets)]
        out[name] = summarize_scores(scores)
    return out


def stock_pipeline(base: Any, device: torch.device) -> Any:
    """The base text-to-image pipeline with DDIM, as the grounded one samples (the baseline without boxes)."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        vae=base.vae,
        text_encoder=base.text_encoder,
        tokenizer=base.tokenizer,
        unet=base.unet,
        scheduler=DDIMScheduler.from_config(base.scheduler.config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    ).to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe
