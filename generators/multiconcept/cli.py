"""``workbench multiconcept``: compose concepts from reference images into a prompt (FreeCustom), with
the text-only and collage-img2img baselines beside it.

    workbench multiconcept "a dog wearing a hat" --concept "a dog" dog.png dog_mask.png \\
        --concept "a red hat" hat.png auto --model sd15 --out composed/
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from generators.multiconcept.config import MultiConceptConfig
from workbench import argtypes
from workbench.loading import resolve_model
from workbench.sampling import PIPELINE_SAMPLING

logger = logging.getLogger(__name__)

EPILOG = """examples:
  workbench multiconcept "a large red circle on the left and a large blue star on the right" \\
      --concept "a large red circle" circle.png circle_mask.png --concept "a large blue star" star.png auto \\
      --model toy --steps 50 --n 4 --baselines --out composed/
  workbench multiconcept "a dog wearing a hat" --concept "a dog" dog.png --concept "a hat" hat.png hat_mask.png \\
      --model sd15 --out composed/                   # MASK omitted: the whole reference is the concept

MASK is an image file (white = the concept), "auto" (the toy judge's detection cut to the foreground when
the toy judge is trained, else the pixels that differ from the border colour), or omitted (whole image).
Outputs: OUT/freecustom-<i>.png (+ text-<i>.png, collage-<i>.png and collage.png with --baselines) and
OUT/settings.json.
"""


def _auto_mask(image: Any, prompt: str) -> Any:
    from generators.multiconcept.masks import foreground_mask, judge_mask  # deferred: PIL, numpy, torch

    resolved = resolve_model("toy", kind="judge")
    if resolved.available:
        from toyworld.judge import ShapesJudge  # deferred: diffusers, torch

        return judge_mask(image, ShapesJudge.from_pretrained(str(resolved.local_path)).eval(), prompt)
    mask = foreground_mask(image)
    if not mask.any():
        raise ValueError(f"concept {prompt!r}: 'auto' found no foreground; give a mask file")
    return mask


def cmd_multiconcept(args: argparse.Namespace) -> int:
    import torch
    from diffusers import DDIMScheduler

    from generators.multiconcept import Concept, ConceptError  # deferred: PIL, numpy, torch

    # deferred: PIL, diffusers, numpy, torch
    from generators.multiconcept.methods import MethodCall, build_methods
    from workbench.io import load_image, save_image  # deferred: PIL, numpy, torch
    from workbench.loading.choice import build_sd_pipeline  # deferred: numpy, torch
    from workbench.runtime import Runtime  # deferred: numpy, torch

    try:
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise ConceptError(f"--out {args.out}: is a file; --out is the output folder")
        concepts = []
        for spec in args.concept or []:
            if len(spec) not in (2, 3):
                raise ConceptError(f"--concept takes PROMPT IMAGE [MASK], got {len(spec)} value(s): {spec}")
            prompt, image_path = spec[0], spec[1]
            image = load_image(image_path)  # (3, H, W) in [0, 1]
            mask = None
            if len(spec) == 3:
                mask = _auto_mask(image, prompt) if spec[2] == "auto" else load_image(spec[2]).mean(0) > 0.5
            concepts.append(Concept(image, prompt, mask))
        cfg = MultiConceptConfig(
            generation={"num_inference_steps": args.steps, "guidance_scale": args.guidance},
            freecustom={
                "layers": args.layers,
                "mask_weight": args.mask_weight,
                "mask_resize": args.mask_resize,
                "style_fidelity": args.style_fidelity,
            },
            baselines={"methods": ["freecustom", "text", "collage"] if args.baselines else ["freecustom"]},
        )
        rt = Runtime(seed=args.seed, device=args.device)
        pipe, source = build_sd_pipeline(args.model, rt, args.size)
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
        size = args.size or pipe.unet.config.sample_size * pipe.vae_scale_factor
        call = MethodCall(
            args.prompt, concepts, None, [rt.generator("image", i) for i in range(args.n)], args.seed
        )
        out = Path(args.out)
        for name, method in build_methods(pipe, cfg, size).items():
            with torch.no_grad():
                images = method(call)  # (N, 3, S, S) in [0, 1]
            for i, img in enumerate(images):
                save_image(out / f"{name}-{i}.png", img)
        if args.baselines:
            from generators.multiconcept.collage import make_collage  # deferred: PIL, numpy, torch
            from generators.multiconcept.concept import prepare_concepts  # deferred: PIL, numpy, torch

            prepared = prepare_concepts(concepts, size, size)
            resized = [
                Concept(img, p, m) for img, p, m in zip(prepared.images, prepared.prompts, prepared.masks)
            ]
            save_image(out / "collage.png", make_collage(resized, size, size))
    except (ConceptError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = {k: v for k, v in vars(args).items() if k not in ("func", "concept", "command", "log_level")}
    settings["model_source"] = source
    settings["concepts"] = [
        {"prompt": c[0], "image": c[1], "mask": c[2] if len(c) > 2 else None} for c in args.concept
    ]
    (out / "settings.json").write_text(json.dumps(settings, indent=2, default=str))
    print(out)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``workbench multiconcept``."""
    p = subparsers.add_parser(
        "multiconcept",
        help="compose concepts from reference images into a prompt (FreeCustom)",
        description="Generate images of PROMPT that contain each --concept, from one reference image per concept "
        "(multi-reference self-attention, no training).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("prompt", help="the target prompt")
    p.add_argument(
        "--concept", nargs="+", action="append", metavar="PROMPT IMAGE [MASK]", required=True,
        help="a concept: its prompt, its reference image, optionally its mask (a file or 'auto'); repeat, 1-8 times",
    )  # fmt: skip
    p.add_argument(
        "--model", default="dummy", help="dummy, auto, toy, sd15, sd21, a hub id or a pipeline folder"
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--n", type=argtypes.bounded_int(1, 10_000), default=1, help="images to generate")
    p.add_argument(
        "--steps",
        type=argtypes.bounded_int(1, 1000),
        default=PIPELINE_SAMPLING.num_inference_steps,
        help="DDIM steps (default: the paper's, %(default)s)",
    )
    p.add_argument(
        "--guidance",
        type=argtypes.bounded_float(0.0),
        default=PIPELINE_SAMPLING.guidance_scale,
        help="guidance scale (default: the paper's, %(default)s)",
    )
    p.add_argument(
        "--mask-weight", type=float, default=3.0, help="logit added inside each concept's mask (paper: 3)"
    )
    p.add_argument(
        "--mask-resize",
        choices=["coverage", "nearest"],
        default="coverage",
        help="how a mask is shrunk to each layer's tokens: half coverage (default) or the authors' nearest pixel",
    )
    p.add_argument(
        "--style-fidelity",
        type=float,
        default=1.0,
        help="plain self-attention weight in the unconditional branch",
    )
    p.add_argument("--layers", nargs="+", default=["freecustom"], help="layer preset or dotted glob patterns")
    p.add_argument(
        "--size",
        type=argtypes.bounded_int(8, 4096),
        default=None,
        help="output side in pixels (default: the model's)",
    )
    p.add_argument("--seed", type=argtypes.seed, default=0)
    p.add_argument("--device", default=None, help="cpu or cuda (default: accelerate decides)")
    p.add_argument(
        "--baselines", action="store_true", help="also the text-only and collage-img2img baselines"
    )
    p.set_defaults(func=cmd_multiconcept)
