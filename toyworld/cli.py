"""``workbench toy ...``: train, export and evaluate the toy models of the shapes world."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from workbench import argtypes

from .presets import MODELS_DIR
from .train.registry import EXPORT_NAMES, TRAINERS

logger = logging.getLogger("toyworld")


EVAL_SECTIONS = ("judge", "clip", "vae", "sd", "captioner")
TRAIN_ORDER = ("vae", "clip", "judge", "captioner", "unet")  # the UNet needs the VAE and the CLIP


def seed_suffix(seed: int) -> str:
    """Seed 0 is the shipped model (``models/clip``); another seed trains and exports beside it
    (``models/clip-seed1``, checkpoints in ``toy-train/clip-seed1``), e.g. a second CLIP for transfer."""
    return "" if seed == 0 else f"-seed{seed}"


def _places(name: str, args: argparse.Namespace) -> tuple[Path, Path]:
    """The checkpoint folder and the package's export folder of ``name`` at ``args.seed``."""
    from .train.loop import default_work_dir  # deferred: torch

    suffix = seed_suffix(args.seed)
    work_dir = args.work_dir / (name + suffix) if args.work_dir else default_work_dir(name + suffix)
    return work_dir, MODELS_DIR / (EXPORT_NAMES.get(name, name) + suffix)


def _names(model: str) -> list[str]:
    if model == "all":
        return [n for n in TRAIN_ORDER if n in TRAINERS] + [
            n for n in TRAINERS.names() if n not in TRAIN_ORDER
        ]
    TRAINERS.get(model)  # a clear error for an unknown name
    return [model]


def _export(trainer, name: str, out, result: dict, args: argparse.Namespace) -> None:
    import torch  # deferred: torch is heavy and `workbench --help` must start fast

    info = {
        "steps": result["step"],
        "minutes": round(result["minutes"], 1),
        "device": args.device or "cpu",
        "threads": torch.get_num_threads(),
        "seed": args.seed,
        "recipe": getattr(trainer, "recipe", None),
        "command": f"workbench toy train {name} --seed {args.seed}",
        "metrics": {k: v for k, v in result.items() if k not in ("step", "minutes")},
        "eval_command": getattr(trainer, "eval_command", "workbench toy eval --json"),
        "exported": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    from .train.storage import link_duplicates, unshare  # deferred: diffusers

    unshare(out)  # never write through a link into another model's folder
    trainer.export(out, info)
    if out.resolve().is_relative_to(MODELS_DIR.resolve()):
        link_duplicates(MODELS_DIR)  # weights shared with other shipped models are stored once
    logger.info("%s: exported to %s", name, out)


def _train(args: argparse.Namespace) -> int:
    import torch  # deferred: torch is heavy and `workbench --help` must start fast

    from .train.loop import run_training  # deferred: torch

    # progress, evaluations and checkpoints are logged (a no-op where the caller configured logging)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    # deferred: workbench.runtime imports torch, and `workbench --help` must start fast
    from workbench.runtime import check_device

    check_device(args.device)
    for name in _names(args.model):
        if args.threads:
            torch.set_num_threads(args.threads)
        trainer = TRAINERS.get(name)(seed=args.seed, device=args.device)
        work_dir, out = _places(name, args)
        started = time.time()
        result = run_training(
            trainer,
            work_dir,
            max_steps=args.steps,
            minutes=args.minutes,
            checkpoint_seconds=args.checkpoint_seconds,
            eval_every=args.eval_every,
            export_dir=None if args.fresh else out,
        )
        logger.info("%s: %s (%.1f min this call)", name, json.dumps(result), (time.time() - started) / 60)
        if not args.no_export:
            _export(trainer, name, out, result, args)
    return 0


def _export_cmd(args: argparse.Namespace) -> int:
    # deferred: workbench.runtime imports torch, and `workbench --help` must start fast
    from workbench.runtime import check_device

    from .train.loop import load_checkpoint  # deferred: torch

    check_device(args.device)
    for name in _names(args.model):
        work_dir, out = _places(name, args)
        state = load_checkpoint(work_dir / "checkpoint.pt")
        if state is None:
            logger.error(
                "%s: no checkpoint in %s; train it first with `workbench toy train %s`", name, work_dir, name
            )
            return 2
        trainer = TRAINERS.get(name)(seed=args.seed, device=args.device)
        trainer.load_state_dict(state["trainer"])
        result = {"step": state["step"], "minutes": state["seconds"] / 60, **trainer.evaluate()}
        _export(trainer, name, out, result, args)
    return 0


def _eval(args: argparse.Namespace) -> int:
    """Evaluate the shipped models; under ``accelerate launch`` the scenes are shared among the processes
    and the main process prints the result."""
    from workbench.runtime import Runtime  # deferred: torch is heavy and `workbench --help` must start fast

    from .evaluate.run import evaluate_all  # deferred: torch

    sections = tuple(s.strip() for s in args.only.split(",")) if args.only else None
    unknown = [s for s in sections or () if s not in EVAL_SECTIONS]
    if unknown:
        raise ValueError(
            f"--only: unknown section(s) {', '.join(unknown)}; known: {', '.join(EVAL_SECTIONS)}"
        )
    device = None if args.device == "auto" else args.device
    with Runtime(seed=args.seed, device=device) as runtime:
        result = evaluate_all(
            seed=args.seed,
            n=args.n,
            sections=sections,
            runtime=runtime,
            batch=args.batch,
            sd_steps=args.sd_steps,
            retrieval_n=args.retrieval_n,
            clip_dir=args.clip,
        )
        if runtime.num_processes > 1:
            result["num_processes"] = runtime.num_processes
        if not runtime.is_main:
            return 0
    if args.json:
        print(json.dumps(result))
    else:
        for section, values in result.items():
            if isinstance(values, dict):
                print(f"{section}:")
                for k, v in values.items():
                    print(f"  {k}: {v:.4f}" if isinstance(v, float) else f"  {k}: {v}")
            else:
                print(f"{section}: {values}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from pathlib import Path

    models = ", ".join(TRAINERS.names()) + " or all"
    toy = subparsers.add_parser("toy", help="train and evaluate the toy models of the shapes world")
    sub = toy.add_subparsers(dest="toy_command", required=True)
    tr = sub.add_parser(
        "train", help="train (or resume training of) a toy model, then export it into the package"
    )
    tr.add_argument("model", help=models)
    tr.add_argument("--seed", type=argtypes.seed, default=0)
    tr.add_argument(
        "--steps",
        type=argtypes.bounded_int(0),
        default=10**9,
        help="stop after this many optimiser steps in total",
    )
    tr.add_argument(
        "--minutes",
        type=argtypes.bounded_float(0.0),
        default=None,
        help="stop after this many minutes in this call",
    )
    tr.add_argument("--threads", type=argtypes.bounded_int(1, 1024), default=None, help="torch CPU threads")
    tr.add_argument("--device", default=None, help="cpu (default) or cuda")
    tr.add_argument(
        "--work-dir", type=Path, default=None, help="checkpoint folder (default ~/.cache/workbench/toy-train)"
    )
    tr.add_argument("--checkpoint-seconds", type=argtypes.bounded_float(0.0), default=300.0)
    tr.add_argument("--eval-every", type=argtypes.bounded_int(1), default=500)
    tr.add_argument("--no-export", action="store_true", help="do not write the package's model folder")
    tr.add_argument(
        "--fresh",
        action="store_true",
        help="without a checkpoint, start from scratch instead of the shipped weights",
    )
    tr.set_defaults(func=_train)
    ex = sub.add_parser(
        "export", help="export a toy model from its latest training checkpoint into the package"
    )
    ex.add_argument("model", help=models)
    ex.add_argument("--seed", type=argtypes.seed, default=0)
    ex.add_argument("--device", default=None)
    ex.add_argument("--work-dir", type=Path, default=None)
    ex.set_defaults(func=_export_cmd)
    ev = sub.add_parser("eval", help="evaluate every shipped toy model on freshly generated held-out scenes")
    ev.add_argument(
        "--seed",
        type=argtypes.seed,
        default=999,
        help="held-out scene seed (training uses seed 0's train split)",
    )
    ev.add_argument("--n", type=argtypes.bounded_int(1, 1_000_000), default=500, help="scenes per measure")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--only", default=None, help="comma-separated sections: judge,clip,vae,sd,captioner")
    ev.add_argument(
        "--device",
        default="cpu",
        help="cpu (default), cuda, or auto (accelerate's choice: one GPU per process)",
    )
    ev.add_argument(
        "--batch",
        type=argtypes.bounded_int(1, 100_000),
        default=None,
        help="scenes per batch in every section (default: each section's own, 16 to 256)",
    )
    ev.add_argument(
        "--sd-steps",
        type=argtypes.bounded_int(4, 1000),
        default=25,
        help="SD denoising steps (at least 4: img2img at strength 0.3 runs 30%% of them)",
    )
    ev.add_argument(
        "--retrieval-n",
        type=argtypes.bounded_int(1, 100_000),
        default=1000,
        help="captions among which the CLIP's image-to-text R@1 is measured",
    )
    ev.add_argument(
        "--clip",
        type=Path,
        default=None,
        help="the CLIP folder of the clip section (default toyworld/models/clip), e.g. toyworld/models/clip-aug",
    )
    ev.set_defaults(func=_eval)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="workbench")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
