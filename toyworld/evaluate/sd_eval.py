"""Toy SD quality, read by the judge: prompted colour / shape / position, two-object prompts,
img2img preservation, time per image; and how distinct its text encoder keeps each attribute."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from workbench.runs.items import map_batches
from workbench.sampling import WORKBENCH_SAMPLING

from ..judge import ShapesJudge
from ..judge.matching import match_boxes
from ..train.registry import MODELS_DIR
from ..world import ShapesWorld
from .text_states import text_state_cosines

if TYPE_CHECKING:
    from workbench.runtime import Runtime


def _load_judge(models_dir: Path | None = None):
    path = (models_dir or MODELS_DIR) / "judge"
    if not (path / "config.json").exists():
        return None
    return ShapesJudge.from_pretrained(path).eval()


@torch.no_grad()
def generate(
    pipe,
    prompts: list[str],
    seed: int,
    steps: int = WORKBENCH_SAMPLING.num_inference_steps,
    guidance: float = WORKBENCH_SAMPLING.guidance_scale,
    batch: int = 16,
    start: int = 0,
) -> torch.Tensor:
    """Images (N, 3, H, W) in [0, 1], one seeded generator per prompt index (``start + i`` for prompt ``i``:
    a slice of a longer prompt list draws what the whole list would)."""
    pipe.set_progress_bar_config(disable=True)
    out = []
    for i in range(0, len(prompts), batch):
        gens = [
            torch.Generator().manual_seed(seed * 100003 + start + i + j)
            for j in range(len(prompts[i : i + batch]))
        ]
        res = pipe(
            prompts[i : i + batch],
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=gens,
            output_type="pt",
        )
        out.append(res.images.float().cpu())
    return torch.cat(out)


def _single_hits(dets, scene) -> dict[str, int]:
    """Whether the judge's most confident detection has the scene's one object's colour, shape, position."""
    obj = scene.objects[0]
    best = dets[0] if dets else None
    return {
        "single_color_acc": int(best is not None and best.color == obj.color),
        "single_shape_acc": int(best is not None and best.shape == obj.shape),
        "single_position_acc": int(best is not None and best.position == obj.position),
    }


def _single_scores(judge, scenes, images) -> dict[str, float]:
    hits = [_single_hits(d, s) for s, d in zip(scenes, judge.detect(images))]
    return {k: sum(h[k] for h in hits) / len(scenes) for k in hits[0]}


def _objects_found(judge_dets, scene) -> bool:
    """Every object of the scene found (shape and colour) somewhere in the image."""
    remaining = list(judge_dets)
    for obj in scene.objects:
        hit = next((d for d in remaining if d.shape == obj.shape and d.color == obj.color), None)
        if hit is None:
            return False
        remaining.remove(hit)
    return True


@torch.no_grad()
def evaluate_sd_quick(pipe, n: int = 32, seed: int = 4242) -> dict[str, float]:
    judge = _load_judge()
    world = ShapesWorld(pipe.unet.config.sample_size * pipe.vae_scale_factor)
    scenes = [world.scene(seed, "test", i, n_objects=1) for i in range(n)]
    t0 = time.time()
    images = generate(pipe, [s.caption() for s in scenes], seed, steps=20)
    out = {"seconds_per_image": (time.time() - t0) / n}
    if judge is not None:
        out.update(_single_scores(judge, scenes, images))
    out.update(text_state_cosines(pipe.tokenizer, pipe.text_encoder))
    return out


def _preserved(judge_dets, reference) -> bool:
    """The judge reads an img2img output as it read the input: same count, each object matched by box
    (IoU >= 0.3) with the same shape and colour."""
    pairs = match_boxes([x.box for x in judge_dets], [x.box for x in reference], min_iou=0.3)
    return (
        len(judge_dets) == len(reference)
        and len(pairs) == len(reference)
        and all(
            judge_dets[p].shape == reference[q].shape and judge_dets[p].color == reference[q].color
            for p, q, _ in pairs
        )
    )


@torch.no_grad()
def evaluate_sd(
    pipe,
    img2img_pipe,
    judge,
    n: int = 100,
    seed: int = 999,
    steps: int = WORKBENCH_SAMPLING.num_inference_steps,
    guidance: float = WORKBENCH_SAMPLING.guidance_scale,
    runtime: Runtime | None = None,
    batch: int = 16,
) -> dict[str, float]:
    """The full ``workbench toy eval`` section for the toy SD.

    With ``runtime``, the prompts are generated and judged in fixed batches of ``batch`` shared among its
    processes (each image drawn from its own seeded generator: the same numbers on any number of
    processes; ``seconds_per_image`` is the wall time over all processes divided by ``n``).
    """
    world = ShapesWorld(pipe.unet.config.sample_size * pipe.vae_scale_factor)

    def singles(start: int, stop: int) -> list[dict[str, int]]:
        scenes = [world.scene(seed, "test", i, n_objects=1) for i in range(start, stop)]
        images = generate(pipe, [s.caption() for s in scenes], seed, steps, guidance, batch, start)
        return [_single_hits(d, s) for s, d in zip(scenes, judge.detect(images))]

    def pairs(start: int, stop: int) -> list[bool]:
        scenes = [world.scene(seed + 1, "test", i, n_objects=2) for i in range(start, stop)]
        images = generate(pipe, [s.caption() for s in scenes], seed + 1, steps, guidance, batch, start)
        return [_objects_found(d, s) for d, s in zip(judge.detect(images), scenes)]

    img2img_pipe.set_progress_bar_config(disable=True)

    def kept(start: int, stop: int) -> list[bool]:
        # img2img at strength 0.3 keeps the judge's reading of the input
        inputs = world.batch(seed + 2, "test", start, stop - start, n_objects=(1, 2))
        gens = [torch.Generator().manual_seed(seed + 7 + i) for i in range(start, stop)]
        res = img2img_pipe(
            inputs.captions,
            image=inputs.images,
            strength=0.3,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=gens,
            output_type="pt",
        ).images.float()
        return [_preserved(d, r) for d, r in zip(judge.detect(res), judge.detect(inputs.images))]

    t0 = time.time()
    single_rows = map_batches(runtime, n, batch, singles)
    seconds = (time.time() - t0) / n
    out = {k: sum(r[k] for r in single_rows) / n for k in single_rows[0]} if single_rows else {}
    out["two_object_acc"] = sum(map_batches(runtime, n, batch, pairs)) / n
    out["img2img_preserve_acc"] = sum(map_batches(runtime, n, batch, kept)) / n
    out["seconds_per_image"] = seconds
    out.update(text_state_cosines(pipe.tokenizer, pipe.text_encoder))
    return out
