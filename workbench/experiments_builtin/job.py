"""The generation job of the built-in experiments: generate with per-item generators and checkpoints,
save, score, report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from workbench.generation import GenerationRequest, build_generator
from workbench.io import to_pil
from workbench.loading.choice import build_clip, build_sd_pipeline
from workbench.runs import RunContext
from workbench.runs.items import map_items

from .sections import GenerateSection, ScoreSection


@dataclass
class GenerationResult:
    """What the job produced.

    Attributes:
        images: ``(N, 3, H, W)`` in [0, 1], in item order.
        prompts: the prompt of each image.
        pipeline: the generator pipeline.
        source: which model made the images.
        clip: ``(model, processor, description)`` or ``None``.
        clip_scores: ``(N,)`` CLIP scores (100 * max(cos, 0)), or ``None``.
    """

    images: torch.Tensor
    prompts: list[str]
    pipeline: Any
    source: str
    clip: tuple[Any, Any, str] | None = None
    clip_scores: torch.Tensor | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def generate_images(ctx: RunContext, gen: GenerateSection, pipe: Any) -> tuple[torch.Tensor, list[str]]:
    """Generate ``images_per_prompt`` images per prompt, one checkpoint per batch.

    Image ``i`` always draws its noise from ``ctx.runtime.generator("image", i)`` and batches are
    fixed slices of the item list, so a resumed or sharded run gives the same pixels.

    Returns:
        ``(images, prompts)``: images ``(N, 3, H, W)`` in [0, 1] and the prompt of each.
    """
    rt = ctx.runtime
    prompts = [p for p in gen.prompts for _ in range(gen.images_per_prompt)]
    batches = [
        list(range(s, min(s + gen.batch_size, len(prompts)))) for s in range(0, len(prompts), gen.batch_size)
    ]
    method = build_generator(gen.method, pipe, gen.method_options)

    def compute(b: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        indices = batches[b]
        request = GenerationRequest(
            [prompts[i] for i in indices],
            [rt.generator("image", i) for i in indices],
            num_inference_steps=gen.num_inference_steps,
            guidance_scale=gen.guidance_scale,
            height=gen.image_size,
            width=gen.image_size,
        )
        with torch.no_grad(), rt.autocast():
            images = method(request)  # (B, 3, H, W) in [0, 1]
        return {"images": images}, {"indices": indices}

    keys = [f"generate/batch-{b:05d}" for b in range(len(batches))]
    results = map_items(ctx, keys, compute, desc="generate")
    return torch.cat([tensors["images"] for tensors, _ in results]), prompts


@torch.no_grad()
def clip_scores(
    model: Any, processor: Any, images: torch.Tensor, prompts: list[str], batch_size: int = 32
) -> torch.Tensor:
    """CLIP score of each (image, prompt) pair: ``100 * max(cos(image_emb, text_emb), 0)``.

    Args:
        images: ``(N, 3, H, W)`` in [0, 1].
        prompts: ``N`` strings (truncated to the text encoder's context).

    Returns:
        ``(N,)`` float tensor in [0, 100].
    """
    device = next(model.parameters()).device
    scores = []
    for s in range(0, len(prompts), batch_size):
        pil = [to_pil(im) for im in images[s : s + batch_size]]
        inputs = processor(
            text=prompts[s : s + batch_size], images=pil, return_tensors="pt", padding=True, truncation=True
        )
        inputs = {k: v.to(device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(next(model.parameters()).dtype)
        out = model(**inputs)
        img = torch.nn.functional.normalize(out.image_embeds.float(), dim=-1)  # (b, D)
        txt = torch.nn.functional.normalize(out.text_embeds.float(), dim=-1)  # (b, D)
        scores.append(100 * (img * txt).sum(-1).clamp(min=0).cpu())  # (b,)
    return torch.cat(scores)


def run_generation_job(ctx: RunContext, gen: GenerateSection, score: ScoreSection) -> GenerationResult:
    """Generate, save ``outputs/images/*.png``, score, log metrics and fill the report."""
    pipe, source = build_sd_pipeline(gen.model, ctx.runtime, gen.image_size)
    ctx.logger.info("generator: %s", source)
    images, prompts = generate_images(ctx, gen, pipe)
    result = GenerationResult(images=images, prompts=prompts, pipeline=pipe, source=source)
    for i, img in enumerate(images):
        ctx.save_image(f"images/{i:04d}", img)

    metrics: dict[str, Any] = {
        "images": len(images),
        "pixel_mean": images.mean().item(),
        "pixel_std": images.std().item(),
    }
    result.clip = build_clip(score.clip, ctx.runtime)
    if result.clip is not None:
        model, processor, clip_source = result.clip
        ctx.logger.info("CLIP scorer: %s", clip_source)
        result.clip_scores = clip_scores(model, processor, images, prompts)
        metrics["clip_score"] = {
            "mean": result.clip_scores.mean().item(),
            "std": result.clip_scores.std(correction=0).item(),
        }
    ctx.log_metrics(metrics)
    _report(ctx, gen, result)
    return result


def _report(ctx: RunContext, gen: GenerateSection, result: GenerationResult) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = ctx.report
    r.add_text(
        f"Generator: **{result.source}**, method **{gen.method}**.\n\n"
        f"{len(gen.prompts)} prompt(s) x {gen.images_per_prompt} image(s), "
        f"{gen.num_inference_steps} step(s), guidance {gen.guidance_scale}, seed {ctx.config.seed}."
        + (f"\n\nCLIP scorer: **{result.clip[2]}**." if result.clip else ""),
        title="Generation",
    )
    captions = [f"{i}: {p}" for i, p in enumerate(result.prompts)]
    r.add_images(
        "Generated images", result.images, captions=captions, ncols=min(8, max(gen.images_per_prompt, 4))
    )
    rows = []
    for i, p in enumerate(result.prompts):
        row: dict[str, Any] = {"index": i, "prompt": p, "pixel_mean": result.images[i].mean().item()}
        if result.clip_scores is not None:
            row["clip_score"] = result.clip_scores[i].item()
        rows.append(row)
    r.add_table("Per image", rows)
    if result.clip_scores is not None:
        per_prompt = result.clip_scores.view(len(gen.prompts), gen.images_per_prompt)  # (P, K)
        fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(gen.prompts)))
        ax.barh(
            range(len(gen.prompts)),
            per_prompt.mean(1).numpy(),
            xerr=per_prompt.std(1, correction=0).numpy(),
        )
        ax.set_yticks(range(len(gen.prompts)), gen.prompts, fontsize=8)  # full prompts, never cut
        ax.invert_yaxis()
        ax.set_xlabel("CLIP score")
        fig.tight_layout()
        r.add_figure(
            "CLIP score per prompt", fig, caption="mean and standard deviation over the images of each prompt"
        )
        plt.close(fig)
