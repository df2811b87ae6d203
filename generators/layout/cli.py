"""``workbench layout plan|generate|poster|train-gligen``: layouts from prompts, layout-aware images,
PAID-style product posters, and the toy GLIGEN's training.

    workbench layout plan "a large red circle on the left and a small blue star in the top right"
    workbench layout generate "a large red circle on the left and a blue square on the right" out.png
    workbench layout generate PROMPT out.png --method regions --model toy --steps 25
    workbench layout generate PROMPT out.png --layout layout.json      # {"phrases": [...], "boxes": [[x0, y0, x1, y1], ...]}
    workbench layout poster product.png "a green background" poster.png --tagline "Fresh" --tagline "2 for 1"
    workbench layout train-gligen --minutes 60                         # resumable; exports generators/layout/models/gligen
    workbench layout eval-gligen --out runs/gligen-eval                 # boxes vs no boxes, position-free captions

The evaluation is an experiment: ``workbench run examples/layout_eval.yaml``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from workbench import argtypes
from workbench.generation import build_generator
from workbench.sampling import WORKBENCH_SAMPLING

from .gligen_recipe import RECIPE

logger = logging.getLogger(__name__)

EPILOG = """examples:
  workbench layout plan "a large red circle on the left and a small blue star in the top right"
  workbench layout generate "a red circle on the left and a blue square on the right" out.png --method box_guidance
  workbench layout poster product.png "a green background" poster.png --tagline "Fresh"
  workbench layout train-gligen --minutes 60
  workbench run examples/layout_eval.yaml
"""


def _plan(args: argparse.Namespace) -> int:
    from .planner import ShapesGrammarPlanner  # deferred: numpy, torch

    layout = ShapesGrammarPlanner().plan(args.prompt)
    print(json.dumps(layout.to_json(), indent=2))
    return 0


def _read_layout(path: Path):
    """The :class:`BoxLayout` of a ``--layout`` JSON file; a clear ``ValueError`` naming the file otherwise."""
    from .layout import BoxLayout  # deferred: torch

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"--layout {path}: not a UTF-8 JSON file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"--layout {path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(
            f'--layout {path}: must hold a JSON object {{"phrases": [...], "boxes": [[x0, y0, x1, y1], ...]}}'
        )
    try:
        return BoxLayout(**data)
    except ValueError as exc:
        raise ValueError(f"--layout {path}: {exc}") from None


def _generate(args: argparse.Namespace) -> int:
    from workbench.io import save_image  # deferred: PIL, numpy, torch
    from workbench.loading.choice import build_sd_pipeline  # deferred: numpy, torch
    from workbench.runtime import Runtime  # deferred: numpy, torch

    from .methods import layout_request  # deferred: diffusers, torch
    from .planner import ShapesGrammarPlanner  # deferred: numpy, torch
    from .regions import RegionsConfig  # deferred: diffusers, torch

    rt = Runtime(seed=args.seed, device=args.device)
    if args.layout:
        layout = _read_layout(Path(args.layout))
        regions = list(layout.phrases)
    else:
        planner = ShapesGrammarPlanner()
        layout, regions = planner.plan(args.prompt), planner.region_prompts(args.prompt)
    layout.check_prompt(args.prompt)
    pipe, name = build_sd_pipeline(args.model, rt)
    base, options = pipe, RegionsConfig.for_model(name) if args.method == "regions" else None
    if args.method == "gligen":
        from .gligen import load_gligen_pipeline  # deferred: diffusers, torch

        base = load_gligen_pipeline(args.gligen, rt)
        base.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
    request = layout_request(
        [args.prompt], [layout], [regions], [rt.generator("image", 0)], args.steps, args.guidance_scale
    )
    images = build_generator(args.method, base, options)(request)
    save_image(Path(args.output), images[0])
    if args.boxes:
        from .visual import draw_boxes  # deferred: PIL, numpy, torch

        out = Path(args.output)
        draw_boxes(images[0], layout.boxes, layout.phrases, scale=max(1, 256 // images.shape[-1])).save(
            out.with_name(out.stem + "_boxes.png")
        )
    logger.info("%s with %s (%s): %s", args.method, name, tuple(images.shape[1:]), args.output)
    return 0


def _poster(args: argparse.Namespace) -> int:
    from PIL import Image, UnidentifiedImageError

    from workbench.io import save_image  # deferred: PIL, numpy, torch
    from workbench.loading.choice import build_sd_pipeline  # deferred: numpy, torch
    from workbench.runtime import Runtime  # deferred: numpy, torch

    from .poster import generate_product_poster  # deferred: PIL, numpy, torch

    try:
        with Image.open(args.product) as im:
            im.load()
            product = im.copy()
    except (OSError, UnidentifiedImageError) as exc:
        print(f"error: cannot read the product image {args.product}: {exc}", file=sys.stderr)
        return 2
    rt = Runtime(seed=args.seed, device=args.device)
    pipe, name = build_sd_pipeline(args.model, rt)
    poster = generate_product_poster(
        pipe,
        args.prompt,
        product,
        args.tagline,
        band=args.band,
        band_height=args.band_height,
        generator=rt.generator("image", 0),
        num_inference_steps=args.steps,
        guidance_scale=args.guidance_scale,
    )
    save_image(Path(args.output), poster)
    logger.info("poster with %s (%s): %s", name, tuple(poster.shape[1:]), args.output)
    return 0


def _train(args: argparse.Namespace) -> int:
    import torch

    from .gligen import GLIGEN_DIR  # deferred: diffusers, torch
    from .train_gligen import train_gligen  # deferred: diffusers, numpy, torch

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        result = _run_train(args, train_gligen, GLIGEN_DIR)
    except ValueError as exc:  # bad options (caption shares) or a checkpoint of another recipe
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


def _run_train(args: argparse.Namespace, train_gligen, gligen_dir: Path) -> dict:
    return train_gligen(
        minutes=args.minutes,
        max_steps=args.steps,
        seed=args.seed,
        work_dir=args.work_dir,
        export_dir=args.export_dir or gligen_dir,
        export=not args.no_export,
        fresh=args.fresh,
        eval_every=args.eval_every,
        log_every=args.log_every,
        device=args.device,
        # unset options keep the trainer's defaults (GligenTrainer)
        **{
            k: v
            for k, v in {
                "batch_size": args.batch_size,
                "lr": args.lr,
                "gate_lr": args.gate_lr,
                "position_free": args.position_free,
                "class_words": args.class_words,
                "eval_images": args.eval_images,
                "eval_steps": args.eval_steps,
                "eval_beta": args.eval_beta,
                "min_timestep": args.min_timestep,
                "token_positions": True if args.token_positions else None,
                "box_attention": True if args.box_attention else None,
                "class_phrases": True if args.class_phrases else None,
                "no_words": args.no_words,
            }.items()
            if v is not None
        },
    )


def _eval_gligen(args: argparse.Namespace) -> int:
    import torch

    from .grounding_runs import run_grounding_eval  # deferred: diffusers, scipy, torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.model is not None and not args.model.exists():
        print(
            f"error: --model {args.model} does not exist (a GLIGEN folder or a checkpoint.pt)",
            file=sys.stderr,
        )
        return 2
    try:
        table = run_grounding_eval(
            args.model,
            args.seeds,
            args.prompts,
            args.out,
            methods=args.methods,
            words=args.words,
            num_inference_steps=args.steps,
            scheduled_sampling_beta=args.beta,
        )
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(table, indent=2))
    return 0


def _errors(fn):
    def wrapper(args: argparse.Namespace) -> int:
        from pydantic import ValidationError

        from .layout import LayoutError  # deferred: torch

        try:
            return fn(args)
        except (LayoutError, ValidationError, json.JSONDecodeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return wrapper


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``layout`` with its sub-commands to the ``workbench`` command line."""
    lay = subparsers.add_parser(
        "layout",
        help="layout-aware generation: plan layouts, generate with boxes, train the toy GLIGEN",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = lay.add_subparsers(dest="layout_command", required=True)

    p = sub.add_parser(
        "plan", help="print the layout (phrases, normalised xyxy boxes) the shapes planner gives a prompt"
    )
    p.add_argument("prompt")
    p.set_defaults(func=_errors(_plan))

    g = sub.add_parser("generate", help="generate one image whose objects follow a layout")
    g.add_argument("prompt")
    g.add_argument("output", help="PNG file to write")
    g.add_argument("--method", default="box_guidance", help="stock, box_guidance, boxdiff, regions or gligen")
    g.add_argument(
        "--layout", default=None, help="JSON file with phrases and boxes (default: planned from the prompt)"
    )
    g.add_argument("--model", default="auto", help="auto | dummy | toy | a preset, hub id or folder")
    g.add_argument("--gligen", default=None, help="grounded pipeline folder (default: the toy GLIGEN)")
    g.add_argument(
        "--steps", type=argtypes.bounded_int(1, 1000), default=WORKBENCH_SAMPLING.num_inference_steps
    )
    g.add_argument(
        "--guidance-scale", type=argtypes.bounded_float(0.0), default=WORKBENCH_SAMPLING.guidance_scale
    )
    g.add_argument("--seed", type=argtypes.seed, default=0)
    g.add_argument("--device", default=None)
    g.add_argument("--boxes", action="store_true", help="also write <output>_boxes.png with the layout drawn")
    g.set_defaults(func=_errors(_generate))

    q = sub.add_parser(
        "poster",
        help="a product poster: the product image kept, a background generated around it, taglines drawn",
    )
    q.add_argument(
        "product", help="product image (PNG with transparency: only the opaque pixels are the product)"
    )
    q.add_argument("prompt", help="what the background shows")
    q.add_argument("output", help="PNG file to write")
    q.add_argument("--tagline", action="append", required=True, help="a tagline (repeat for more lines)")
    q.add_argument("--band", choices=["top", "bottom"], default="top")
    q.add_argument("--band-height", type=argtypes.bounded_float(0.0, 1.0), default=0.22)
    q.add_argument("--model", default="auto", help="auto | dummy | toy | a preset, hub id or folder")
    q.add_argument(
        "--steps", type=argtypes.bounded_int(1, 1000), default=WORKBENCH_SAMPLING.num_inference_steps
    )
    q.add_argument(
        "--guidance-scale", type=argtypes.bounded_float(0.0), default=WORKBENCH_SAMPLING.guidance_scale
    )
    q.add_argument("--seed", type=argtypes.seed, default=0)
    q.add_argument("--device", default=None)
    q.set_defaults(func=_errors(_poster))

    t = sub.add_parser(
        "train-gligen", help="train (or resume) GLIGEN grounding on the toy SD, then export it"
    )
    t.add_argument(
        "--minutes",
        type=argtypes.bounded_float(0.0),
        default=None,
        help="stop after this many minutes in this call",
    )
    t.add_argument(
        "--steps",
        type=argtypes.bounded_int(0),
        default=10**9,
        help="stop after this many optimiser steps in total",
    )
    t.add_argument("--seed", type=argtypes.seed, default=0)
    t.add_argument(
        "--batch-size", type=argtypes.bounded_int(1, 4096), default=None, help=f"default {RECIPE.batch_size}"
    )
    t.add_argument(
        "--lr",
        type=argtypes.bounded_float(0.0),
        default=None,
        help=f"learning rate of the grounding layers (applies on resume too; default {RECIPE.lr:g})",
    )
    t.add_argument(
        "--gate-lr",
        type=argtypes.bounded_float(0.0),
        default=None,
        help=f"learning rate of the fusers' gates (default {RECIPE.gate_lr:g})",
    )
    t.add_argument(
        "--position-free",
        type=argtypes.bounded_float(0.0, 1.0),
        default=None,
        help=f"share of scenes captioned without position words (default {RECIPE.position_free:g})",
    )
    t.add_argument(
        "--class-words",
        type=argtypes.bounded_float(0.0, 1.0),
        default=None,
        help=f"share of scenes captioned by class words only, part of --position-free (default {RECIPE.class_words:g})",
    )
    t.add_argument(
        "--eval-images",
        type=argtypes.bounded_int(0),
        default=None,
        help=f"two-object prompts judged at each evaluation (default {RECIPE.eval_images})",
    )
    t.add_argument(
        "--eval-steps", type=argtypes.bounded_int(1), default=None, help=f"default {RECIPE.eval_steps}"
    )
    t.add_argument(
        "--eval-beta",
        type=argtypes.bounded_float(0.0, 1.0),
        default=None,
        help=f"share of sampling steps with grounding tokens at evaluation (default 1 with --box-attention, "
        f"else {RECIPE.eval_beta:g})",
    )
    t.add_argument(
        "--min-timestep",
        type=argtypes.bounded_int(0),
        default=None,
        help=f"train on timesteps [this, T): the noisy steps where the layout forms (default {RECIPE.min_timestep})",
    )
    t.add_argument(
        "--no-words",
        type=argtypes.bounded_float(0.0, 1.0),
        default=None,
        help=f"share of scenes trained with an empty caption but their grounding tokens (default {RECIPE.no_words:g})",
    )
    t.add_argument(
        "--token-positions",
        action="store_true",
        help="fusers whose visual tokens also carry their grid cell's box embedding (a departure from the "
        "paper; default: the paper's gated self-attention)",
    )
    t.add_argument(
        "--box-attention",
        action="store_true",
        help="visual tokens attend only to the grounding tokens whose box covers their grid cell (a "
        "departure from the paper, as later layout methods do; default: unrestricted attention)",
    )
    t.add_argument(
        "--class-phrases",
        action="store_true",
        help="ground the scenes captioned by class words (--class-words) by class phrases ('a large circle', "
        "what eval-gligen --words class grounds) instead of full phrases (default: full phrases)",
    )
    t.add_argument("--threads", type=argtypes.bounded_int(1, 1024), default=None)
    t.add_argument("--device", default=None)
    t.add_argument("--eval-every", type=argtypes.bounded_int(1), default=500)
    t.add_argument(
        "--log-every", type=argtypes.bounded_int(1), default=50, help="steps between loss and gate log lines"
    )
    t.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="checkpoints (default ~/.cache/workbench/toy-train/gligen)",
    )
    t.add_argument("--export-dir", type=Path, default=None, help="default generators/layout/models/gligen")
    t.add_argument("--no-export", action="store_true")
    t.add_argument(
        "--fresh", action="store_true", help="ignore the shipped weights when there is no checkpoint"
    )
    t.set_defaults(func=_train)

    e = sub.add_parser(
        "eval-gligen",
        help="judge-scored two-object prompts without position words: GLIGEN with boxes vs the toy SD without",
    )
    e.add_argument(
        "--model",
        type=Path,
        default=None,
        help="GLIGEN folder or training checkpoint.pt (default: the shipped one)",
    )
    e.add_argument("--seeds", type=argtypes.seed, nargs="+", default=[1, 2, 3])
    e.add_argument("--prompts", type=argtypes.bounded_int(1), default=32, help="two-object prompts per seed")
    e.add_argument("--steps", type=argtypes.bounded_int(1), default=20, help="DDIM steps")
    e.add_argument(
        "--beta",
        type=argtypes.bounded_float(0.0, 1.0),
        default=None,
        help="share of the steps with grounding tokens (GLIGEN's scheduled sampling; default 1 for a model "
        "trained with --box-attention, measured better for it, else the paper's 0.5)",
    )
    e.add_argument("--words", choices=["full", "class"], default="full", help="caption words (no positions)")
    e.add_argument(
        "--methods",
        nargs="+",
        choices=["with_boxes", "without_boxes"],
        default=["with_boxes", "without_boxes"],
    )
    e.add_argument("--out", type=Path, required=True, help="per-seed results (a seed scored there is reused)")
    e.add_argument("--threads", type=argtypes.bounded_int(1, 1024), default=None)
    e.set_defaults(func=_eval_gligen)
