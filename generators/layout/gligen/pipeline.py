"""Running the grounded model: one ``StableDiffusionGLIGENPipeline`` call per prompt and layout."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from workbench.sampling import PIPELINE_SAMPLING, WORKBENCH_SAMPLING

from ..common import AnyLayout, as_prompt_list, layouts_for
from .adapter import gated_unet_with_adapter, is_adapter_folder, read_adapter
from .box_attention import has_box_attention
from .model import GLIGEN_DIR

PAPER_BETA = 0.3  # GLIGEN's scheduled sampling: grounding tokens in the first 30 % of the steps
BOX_ATTENTION_BETA = 1.0  # box-masked grounding attention: every step (measured better, docs/layout.md)


def default_scheduled_sampling_beta(pipe: Any) -> float:
    """:data:`BOX_ATTENTION_BETA` for a pipeline whose UNet has box-masked grounding attention, else the
    paper's :data:`PAPER_BETA`."""
    return BOX_ATTENTION_BETA if has_box_attention(pipe.unet) else PAPER_BETA


def gligen_pipeline_from(sd_pipe: Any, unet: Any) -> Any:
    """A ``StableDiffusionGLIGENPipeline`` sharing ``sd_pipe``'s VAE, text encoder, tokenizer and
    scheduler, with the gated ``unet`` (its scheduled sampling switches positional fusers too)."""
    from .grounded_pipeline import GroundedGLIGENPipeline  # deferred: diffusers

    pipe = GroundedGLIGENPipeline(
        vae=sd_pipe.vae,
        text_encoder=sd_pipe.text_encoder,
        tokenizer=sd_pipe.tokenizer,
        unet=unet,
        scheduler=sd_pipe.scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_gligen_pipeline(path: str | Path | None, runtime: Any, base: Any = None) -> Any:
    """Load a grounded pipeline (default: the toy world's, :data:`GLIGEN_DIR`).

    Args:
        path: a folder saved by ``StableDiffusionGLIGENPipeline.save_pretrained``, or a grounding adapter
            folder (see :mod:`generators.layout.gligen.adapter`), whose base is loaded by name.
        runtime: device and dtype.
        base: an already loaded base ``StableDiffusionPipeline`` for an adapter (its modules are shared).

    Raises:
        FileNotFoundError: no such folder, with how to train it.
        ValueError: an adapter that does not fit its base.
    """
    from diffusers import StableDiffusionGLIGENPipeline

    folder = Path(path) if path is not None else GLIGEN_DIR
    if is_adapter_folder(folder):
        meta = read_adapter(folder)
        if base is None:
            # deferred: torch, diffusers, transformers (loaded on first use)
            from workbench.loading import load_sd_pipeline

            base = load_sd_pipeline(meta["base"], runtime, kind="txt2img")
        unet = gated_unet_with_adapter(base.unet, folder).to(runtime.device, runtime.dtype)
        return gligen_pipeline_from(base, unet)
    if not (folder / "model_index.json").is_file():
        raise FileNotFoundError(
            f"no grounded (GLIGEN) pipeline in {folder}: train it with `workbench layout train-gligen --minutes 60` "
            "(needs the toy SD), or pass a folder saved by StableDiffusionGLIGENPipeline.save_pretrained "
            "or a grounding adapter folder"
        )
    pipe = StableDiffusionGLIGENPipeline.from_pretrained(
        str(folder),
        local_files_only=True,
        use_safetensors=True,
        safety_checker=None,
        requires_safety_checker=False,
    )
    pipe.to(runtime.device, runtime.dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@torch.no_grad()
def generate_grounded(
    pipe: Any,
    prompt: str | Sequence[str],
    layout: AnyLayout | Sequence[AnyLayout],
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
    num_inference_steps: int = WORKBENCH_SAMPLING.num_inference_steps,
    guidance_scale: float = PIPELINE_SAMPLING.guidance_scale,
    scheduled_sampling_beta: float | None = None,
    height: int | None = None,
    width: int | None = None,
) -> torch.Tensor:
    """Generate one image per prompt with its layout's phrases and boxes as grounding tokens.

    Args:
        pipe: a ``StableDiffusionGLIGENPipeline``.
        prompt, layout: prompts and one layout for all or one per prompt (a semantic layout grounds its
            regions' bounding boxes).
        generator: one generator, or one per prompt.
        scheduled_sampling_beta: share of the steps that use the grounding tokens; ``None``:
            :func:`default_scheduled_sampling_beta` (1 for box-masked attention, else GLIGEN's 0.3).

    Returns:
        `torch.Tensor` of shape `(B, 3, H, W)` in [0, 1].
    """
    if scheduled_sampling_beta is None:
        scheduled_sampling_beta = default_scheduled_sampling_beta(pipe)
    prompts = as_prompt_list(prompt)
    layouts = layouts_for(prompts, layout)
    gens = list(generator) if isinstance(generator, Sequence) else [generator] * len(prompts)
    if len(gens) != len(prompts):
        raise ValueError(f"{len(prompts)} prompts but {len(gens)} generators")
    out = []
    for p, lay, g in zip(prompts, layouts, gens):
        boxes = lay.as_boxes()
        res = pipe(
            prompt=p,
            gligen_phrases=list(boxes.phrases),
            gligen_boxes=[list(b) for b in boxes.boxes],
            gligen_scheduled_sampling_beta=scheduled_sampling_beta,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            generator=g,
            height=height,
            width=width,
            output_type="pt",
        )
        out.append(res.images.float().cpu())
    return torch.cat(out)
