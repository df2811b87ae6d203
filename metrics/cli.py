"""``workbench score``: per-image and aggregate metrics for folders of images.

    workbench score --pred DIR [--ref DIR] [--prompts FILE] --metrics ssim,psnr,lpips,clip_t,clip_i,fd
                    [--json] [--csv FILE]

Also runs on its own: ``python -m metrics.cli score ...``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from metrics.limits import DEFAULT_MAX_PIXELS
from workbench import argtypes

logger = logging.getLogger(__name__)

DESCRIPTION = """Score the images of --pred: against --ref (files paired by name without extension) and/or
a prompt per image (--prompts: JSON {name: prompt}, CSV name,prompt, or name<TAB>prompt lines).
Images are read as RGB in [0, 1] (grayscale replicated, alpha composited on white, 16-bit kept at
full precision). Per-image metrics: ssim, ms_ssim, psnr, mse, lpips, clip_t, clip_i; set metrics
(--ref is the real set): fd, kid."""


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``score`` sub-command to the ``workbench`` CLI."""
    p = subparsers.add_parser(
        "score",
        help="per-image and aggregate metrics (SSIM, PSNR, LPIPS, CLIP-T/I, FD ...) for folders of images",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--pred", required=True, metavar="DIR", help="folder of images to score")
    p.add_argument("--ref", metavar="DIR", help="folder of reference images (paired by name)")
    p.add_argument("--prompts", metavar="FILE", help="prompt per image, for clip_t")
    p.add_argument("--metrics", required=True, help="comma-separated metric names, e.g. ssim,psnr,lpips")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--csv", metavar="FILE", help="also write per-image rows and the aggregate to FILE")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument(
        "--alpha",
        choices=["white", "black", "reject"],
        default="white",
        help="RGBA handling (default: composite on white)",
    )
    p.add_argument("--lpips-net", choices=["alex", "vgg"], default="alex")
    p.add_argument("--lpips-backbone", metavar="PATH", help="LPIPS backbone weights file or folder")
    p.add_argument(
        "--clip",
        default="toy",
        help="CLIP for clip_t / clip_i / fd / kid: preset, folder or hub id (default: toy)",
    )
    p.add_argument("--kid-subset-size", type=int, default=1000)
    p.add_argument("--kid-subsets", type=int, default=100)
    p.add_argument("--ms-ssim-scales", type=int, default=5, help="MS-SSIM scales (5 need >= 176 px images)")
    p.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap resamples for 95%% CIs, 0..100000 (0: off)"
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"largest image (width x height) read (default {DEFAULT_MAX_PIXELS} = 4096 x 4096); "
        "larger images are refused before decoding",
    )
    p.add_argument("--seed", type=argtypes.seed, default=0, help="0..2**63-1")
    p.add_argument("--device", default=None, help="e.g. cpu; default: accelerate's choice")
    p.set_defaults(func=run_score)
    return p


def _fmt(value: float) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return f"{value:.6g}"


def _jsonable(obj: Any) -> Any:
    """JSON has no inf/NaN: write them as strings "inf", "-inf", "nan"."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _options_problem(exc: Any) -> str:
    """The first problem of a ``ScoreConfig`` validation error, on one line, naming the option."""
    err = exc.errors()[0]
    field = str(err["loc"][0]) if err["loc"] else ""
    option = f"--{field.replace('_', '-')}" if field else "options"
    message = err["msg"].removeprefix("Value error, ")
    extra = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    return f"{option}: {message} (got {err.get('input')!r}){extra}"


def _check_csv_path(csv: str | None) -> None:
    """Refuse a --csv path that cannot be written, before scoring starts."""
    if csv is None:
        return
    path = Path(csv)
    if path.is_dir():
        raise ValueError(f"--csv {csv}: is a folder; pass a file path (e.g. scores.csv)")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"--csv {csv}: cannot be written, {parent} is a file")
            return


def run_score(args: argparse.Namespace) -> int:
    """Handler of ``workbench score``; returns the exit status (2 for bad inputs)."""
    from pydantic import ValidationError

    from metrics.checks import MetricInputError  # deferred: torch
    from metrics.io import ImageReadError  # deferred: numpy, torch
    from metrics.perceptual.weights import LPIPSWeightsError  # deferred: torch
    from metrics.scoring import SCORERS, ScoreConfig, score_folders  # deferred: numpy, torch

    names = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in names if m not in SCORERS]
    if unknown:
        print(
            f"error: unknown metric(s) {', '.join(unknown)}; known: {', '.join(SCORERS.names())}",
            file=sys.stderr,
        )
        return 2
    try:
        _check_csv_path(args.csv)
        config = ScoreConfig(
            metrics=names,
            batch_size=args.batch_size,
            alpha=args.alpha,
            lpips_net=args.lpips_net,
            lpips_backbone=args.lpips_backbone,
            clip=args.clip,
            kid_subsets=args.kid_subsets,
            kid_subset_size=args.kid_subset_size,
            ms_ssim_scales=args.ms_ssim_scales,
            bootstrap=args.bootstrap,
            seed=args.seed,
            device=args.device,
            max_pixels=args.max_pixels,
        )
        result = score_folders(args.pred, args.ref, args.prompts, config)
    except ValidationError as exc:
        print(f"error: {_options_problem(exc)}", file=sys.stderr)
        return 2
    except (
        MetricInputError,
        ImageReadError,
        LPIPSWeightsError,
        FileNotFoundError,
        ValueError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.csv:
        try:
            result.write_csv(args.csv)
        except OSError as exc:
            print(f"error: --csv {args.csv}: cannot be written ({exc.strerror or exc})", file=sys.stderr)
            return 1
        logger.info("wrote %s", args.csv)
    if args.json:
        sys.stdout.write(
            json.dumps(
                _jsonable(
                    {
                        "aggregate": result.aggregate,
                        "per_image": result.per_image,
                        "details": result.details,
                        "intervals": result.intervals,
                        "skipped": result.skipped,
                    }
                )
            )
            + "\n"
        )
        return 0
    lines = [f"{len(result.per_image)} images in {args.pred}"]
    for metric, value in result.aggregate.items():
        ci = result.intervals.get(metric)
        ci_text = f"  95% CI [{_fmt(ci['low'])}, {_fmt(ci['high'])}]" if ci else ""
        extra = {
            k: v
            for k, v in result.details.get(metric, {}).items()
            if k in ("model", "feature_extractor", "n_real", "n_generated", "warning", "truncated_captions")
        }
        lines.append(f"  {metric:10s} {_fmt(value)}{ci_text}  {extra if extra else ''}".rstrip())
    for metric, why in result.skipped.items():
        lines.append(f"  {metric:10s} skipped: {why}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m metrics.cli score ...`` without the ``workbench`` entry point."""
    parser = argparse.ArgumentParser(prog="metrics")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
