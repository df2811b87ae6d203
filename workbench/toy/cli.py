"""``workbench toy ...``: train, export and evaluate the toy models of the shapes world."""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time

import torch

logger = logging.getLogger("workbench.toy")


def _train(args: argparse.Namespace) -> int:
    from .train.loop import default_work_dir, run_training
    from .train.registry import MODELS_DIR, TRAINERS

    names = TRAINERS.names() if args.model == "all" else [args.model]
    for name in names:
        if args.threads:
            torch.set_num_threads(args.threads)
        trainer = TRAINERS.get(name)(seed=args.seed)
        work_dir = args.work_dir / name if args.work_dir else default_work_dir(name)
        started = time.time()
        result = run_training(
            trainer,
            work_dir,
            max_steps=args.steps,
            minutes=args.minutes,
            checkpoint_seconds=args.checkpoint_seconds,
            eval_every=args.eval_every,
        )
        logger.info("%s: %s (%.1f min this call)", name, json.dumps(result), (time.time() - started) / 60)
        if not args.no_export:
            out = MODELS_DIR / name
            info = {
                "steps": result["step"],
                "minutes": round(result["minutes"], 1),
                "device": platform.processor() or platform.machine(),
                "threads": torch.get_num_threads(),
                "seed": args.seed,
                "command": f"workbench toy train {name} --seed {args.seed}",
                "metrics": {k: v for k, v in result.items() if k not in ("step", "minutes")},
                "eval_command": "workbench toy eval --json",
            }
            trainer.export(out, info)
            logger.info("%s: exported to %s", name, out)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from pathlib import Path

    toy = subparsers.add_parser("toy", help="train and evaluate the toy models of the shapes world")
    sub = toy.add_subparsers(dest="toy_command", required=True)
    tr = sub.add_parser("train", help="train (or resume training of) a toy model, then export it into the package")
    tr.add_argument("model", help="vae, clip, judge, unet, captioner or all")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--steps", type=int, default=10**9, help="stop after this many optimiser steps in total")
    tr.add_argument("--minutes", type=float, default=None, help="stop after this many minutes in this call")
    tr.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    tr.add_argument("--work-dir", type=Path, default=None, help="checkpoint folder (default ~/.cache/workbench/toy-train)")
    tr.add_argument("--checkpoint-seconds", type=float, default=300.0)
    tr.add_argument("--eval-every", type=int, default=500)
    tr.add_argument("--no-export", action="store_true", help="do not write the package's model folder")
    tr.set_defaults(func=_train)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="workbench")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
