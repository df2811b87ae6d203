"""Toy SD quality, read by the judge: prompted colour / shape / position, two-object prompts,
img2img preservation, time per image; and how distinct its text encoder keeps each attribute."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ..judge.matching import match_boxes
from ..world import ShapesWorld
from .text_states import text_state_cosines


def _load_judge(models_dir: Path | None = None):
    from ..judge import ShapesJudge
    from ..train.registry import MODELS_DIR

    path = (models_dir or MODELS_DIR) / "judge"
    if not (path / "config.json").exists():
        return None
    return ShapesJudge.from_pretrained(path).eval()


@torch.no_grad()
def generate(
    pipe, prompts: list[str], seed: int, steps: int = 25, guidance: float = 5.0, batch: int = 16
) -> torch.Tensor:
    """Images (N, 3, H, W) in [0, 1], one seeded generator per prompt index."""
    pipe.set_progress_bar_config(disable=True)
    out = []
    for i in range(0, len(prompts), batch):
        gens = [
            torch.Generator().manual_seed(seed * 100003 + i + j) for j in range(len(prompts[i : i + batch]))
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


def _single_scores(judge, scenes, images) -> dict[str, float]:
    dets = judge.detect(images)
    color = shape = pos = 0
    for scene, d in zip(scenes, dets):
        obj = scene.objects[0]
        if not d:
            continue
        best = d[0]
        color += best.color == obj.color
        shape += best.shape == obj.shape
        pos += best.position == obj.position
    n = len(scenes)
    return {"single_color_acc": color / n, "single_shape_acc": shape / n, "single_position_acc": pos / n}


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


@torch.no_grad()
def evaluate_sd(
    pipe, img2img_pipe, judge, n: int = 100, seed: int = 999, steps: int = 25, guidance: float = 5.0
) -> dict[str, float]:
    """The full ``workbench toy eval`` section for the toy SD."""
    world = ShapesWorld(pipe.unet.config.sample_size * pipe.vae_scale_factor)
    singles = [world.scene(seed, "test", i, n_objects=1) for i in range(n)]
    t0 = time.time()
    images = generate(pipe, [s.caption() for s in singles], seed, steps, guidance)
    seconds = (time.time() - t0) / n
    out = _single_scores(judge, singles, images)
    pairs = [world.scene(seed + 1, "test", i, n_objects=2) for i in range(n)]
    images2 = generate(pipe, [s.caption() for s in pairs], seed + 1, steps, guidance)
    dets2 = judge.detect(images2)
    out["two_object_acc"] = sum(_objects_found(d, s) for d, s in zip(dets2, pairs)) / n
    # img2img at strength 0.3 keeps the judge's reading of the input
    inputs = world.batch(seed + 2, "test", 0, n, n_objects=(1, 2))
    ref = judge.detect(inputs.images)
    kept = 0
    img2img_pipe.set_progress_bar_config(disable=True)
    for i in range(0, n, 16):
        gens = [
            torch.Generator().manual_seed(seed + 7 + i + j) for j in range(len(inputs.scenes[i : i + 16]))
        ]
        res = img2img_pipe(
            inputs.captions[i : i + 16],
            image=inputs.images[i : i + 16],
            strength=0.3,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=gens,
            output_type="pt",
        ).images.float()
        for r, d in zip(ref[i : i + 16], judge.detect(res)):
            pairs_ = match_boxes([x.box for x in d], [x.box for x in r], min_iou=0.3)
            kept += (
                len(d) == len(r)
                and len(pairs_) == len(r)
                and all(d[p].shape == r[q].shape and d[p].color == r[q].color for p, q, _ in pairs_)
            )
    out["img2img_preserve_acc"] = kept / n
    out["seconds_per_image"] = seconds
    out.update(text_state_cosines(pipe.tokenizer, pipe.text_encoder))
    return out
