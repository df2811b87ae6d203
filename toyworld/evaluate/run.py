"""``workbench toy eval``: every shipped toy model on freshly generated held-out scenes.

Under ``accelerate launch --num_processes N`` each section's scenes are shared among the processes in
fixed batches (:func:`workbench.runs.items.map_batches`) and gathered on every process: the same numbers as
one process (``seconds_per_image`` aside).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..train.registry import MODELS_DIR

if TYPE_CHECKING:
    from workbench.runtime import Runtime

logger = logging.getLogger(__name__)


def _missing(name: str, models_dir: Path) -> dict[str, Any]:
    return {
        "available": False,
        "reason": f"not trained yet: no {models_dir / name}; run `workbench toy train {name}`",
    }


def _batch(size: int | None, default: int) -> int:
    return default if size is None else size


@torch.no_grad()
def evaluate_all(
    seed: int = 999,
    n: int = 500,
    models_dir: Path = MODELS_DIR,
    sections: tuple[str, ...] | None = None,
    runtime: Runtime | None = None,
    batch: int | None = None,
    sd_steps: int = 25,
    retrieval_n: int = 1000,
    clip_dir: Path | None = None,
) -> dict[str, Any]:
    """One dict with ``judge``, ``clip``, ``vae``, ``sd`` and ``captioner`` sections (fractions in [0, 1]).

    Args:
        seed: the held-out scenes' seed.
        n: scenes per measure (the SD section takes at most 200, the captioner's 300, the VAE's 256).
        models_dir: the folder of the toy models.
        sections: which sections (default all).
        runtime: the models run on its device, and the scenes are shared among its processes (``None``:
            one process on the CPU).
        batch: scenes per batch in every section (default: each section's own, 16 to 256); the numbers
            depend on it only through batched arithmetic.
        sd_steps: denoising steps of the SD section.
        retrieval_n: captions among which the CLIP's image-to-text R@1 is measured.
        clip_dir: the CLIP of the ``clip`` section (``None``: ``models_dir / "clip"``), e.g. the
            decoded-augmented ``models/clip-aug``.
    """
    sections = sections or ("judge", "clip", "vae", "sd", "captioner")
    device = runtime.device if runtime is not None else torch.device("cpu")
    out: dict[str, Any] = {"seed": seed, "n": n}
    if "judge" in sections:
        if (models_dir / "judge" / "config.json").exists():
            from ..judge import ShapesJudge  # deferred: diffusers
            from ..train.judge import evaluate_judge  # deferred: PIL, diffusers, numpy, scipy

            judge = ShapesJudge.from_pretrained(models_dir / "judge").eval().to(device)
            out["judge"] = evaluate_judge(judge, n=n, seed=seed, runtime=runtime, batch=_batch(batch, 128))
        else:
            out["judge"] = _missing("judge", models_dir)
    if "clip" in sections:
        clip_dir = Path(clip_dir) if clip_dir is not None else models_dir / "clip"
        if (clip_dir / "config.json").exists():
            from transformers import CLIPModel, CLIPTokenizer

            from .clip_eval import evaluate_clip  # deferred: PIL, numpy

            model = CLIPModel.from_pretrained(clip_dir).eval().to(device)
            tok = CLIPTokenizer.from_pretrained(clip_dir)
            out["clip"] = evaluate_clip(
                model, tok, n=n, seed=seed, retrieval_n=retrieval_n, runtime=runtime, batch=_batch(batch, 256)
            )
        else:
            out["clip"] = _missing(clip_dir.name, clip_dir.parent)
    if "vae" in sections:
        if (models_dir / "vae" / "config.json").exists():
            from diffusers import AutoencoderKL

            from .vae_eval import evaluate_vae  # deferred: PIL, diffusers, numpy

            vae = AutoencoderKL.from_pretrained(models_dir / "vae").eval().to(device)
            out["vae"] = evaluate_vae(
                vae, n=min(n, 256), seed=seed, runtime=runtime, batch=_batch(batch, 256)
            )
        else:
            out["vae"] = _missing("vae", models_dir)
    if "sd" in sections:
        judge_dir = models_dir / "judge"
        if (models_dir / "sd" / "model_index.json").exists() and (judge_dir / "config.json").exists():
            from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

            from ..judge import ShapesJudge  # deferred: diffusers
            from .sd_eval import evaluate_sd  # deferred: PIL, diffusers, numpy, scipy

            pipe = StableDiffusionPipeline.from_pretrained(models_dir / "sd").to(device)
            i2i = StableDiffusionImg2ImgPipeline(**pipe.components)
            judge = ShapesJudge.from_pretrained(judge_dir).eval().to(device)
            out["sd"] = evaluate_sd(
                pipe,
                i2i,
                judge,
                n=min(n, 200),
                seed=seed,
                steps=sd_steps,
                runtime=runtime,
                batch=_batch(batch, 16),
            )
        else:
            out["sd"] = (
                _missing("judge", models_dir)
                if (models_dir / "sd").exists()
                else {
                    "available": False,
                    "reason": f"not trained yet: no {models_dir / 'sd'}; run `workbench toy train unet`",
                }
            )
    if "captioner" in sections:
        if (models_dir / "captioner" / "config.json").exists():
            from transformers import BertTokenizer, BlipForConditionalGeneration

            from .captioner_eval import evaluate_captioner  # deferred: PIL, numpy

            model = BlipForConditionalGeneration.from_pretrained(models_dir / "captioner").eval().to(device)
            tok = BertTokenizer.from_pretrained(models_dir / "captioner")
            out["captioner"] = evaluate_captioner(
                model, tok, n=min(n, 300), seed=seed, runtime=runtime, batch=_batch(batch, 64)
            )
        else:
            out["captioner"] = _missing("captioner", models_dir)
    return out
