"""``workbench toy eval``: every shipped toy model on freshly generated held-out scenes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from ..train.registry import MODELS_DIR

logger = logging.getLogger(__name__)


def _missing(name: str, models_dir: Path) -> dict[str, Any]:
    return {
        "available": False,
        "reason": f"not trained yet: no {models_dir / name}; run `workbench toy train {name}`",
    }


@torch.no_grad()
def evaluate_all(
    seed: int = 999, n: int = 500, models_dir: Path = MODELS_DIR, sections: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """One dict with ``judge``, ``clip``, ``vae``, ``sd`` and ``captioner`` sections (fractions in [0, 1])."""
    sections = sections or ("judge", "clip", "vae", "sd", "captioner")
    out: dict[str, Any] = {"seed": seed, "n": n}
    if "judge" in sections:
        if (models_dir / "judge" / "config.json").exists():
            from ..judge import ShapesJudge
            from ..train.judge import evaluate_judge

            out["judge"] = evaluate_judge(
                ShapesJudge.from_pretrained(models_dir / "judge").eval(), n=n, seed=seed
            )
        else:
            out["judge"] = _missing("judge", models_dir)
    if "clip" in sections:
        if (models_dir / "clip" / "config.json").exists():
            from transformers import CLIPModel, CLIPTokenizer

            from .clip_eval import evaluate_clip

            model = CLIPModel.from_pretrained(models_dir / "clip").eval()
            tok = CLIPTokenizer.from_pretrained(models_dir / "clip")
            out["clip"] = evaluate_clip(model, tok, n=n, seed=seed, retrieval_n=1000)
        else:
            out["clip"] = _missing("clip", models_dir)
    if "vae" in sections:
        if (models_dir / "vae" / "config.json").exists():
            from diffusers import AutoencoderKL

            from ..train.vae import psnr
            from ..world import ShapesWorld

            vae = AutoencoderKL.from_pretrained(models_dir / "vae").eval()
            x = ShapesWorld(64).batch(seed, "test", 0, min(n, 256), n_objects=(1, 4), entity_prob=0.1).images
            y = ((vae.decode(vae.encode(x * 2 - 1).latent_dist.mode()).sample + 1) / 2).clamp(0, 1)
            out["vae"] = {"psnr": psnr(y, x).mean().item()}
        else:
            out["vae"] = _missing("vae", models_dir)
    if "sd" in sections:
        judge_dir = models_dir / "judge"
        if (models_dir / "sd" / "model_index.json").exists() and (judge_dir / "config.json").exists():
            from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

            from ..judge import ShapesJudge
            from .sd_eval import evaluate_sd

            pipe = StableDiffusionPipeline.from_pretrained(models_dir / "sd")
            i2i = StableDiffusionImg2ImgPipeline(**pipe.components)
            judge = ShapesJudge.from_pretrained(judge_dir).eval()
            out["sd"] = evaluate_sd(pipe, i2i, judge, n=min(n, 200), seed=seed)
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

            from .captioner_eval import evaluate_captioner

            model = BlipForConditionalGeneration.from_pretrained(models_dir / "captioner").eval()
            tok = BertTokenizer.from_pretrained(models_dir / "captioner")
            out["captioner"] = evaluate_captioner(model, tok, n=min(n, 300), seed=seed)
        else:
            out["captioner"] = _missing("captioner", models_dir)
    return out
