"""``workbench masterprints ...``: inspect optimisers and spaces, evaluate an image as a master image.

    workbench masterprints list
    workbench masterprints evaluate IMAGE --prompts PROMPTS.txt [--clip toy] [--real-per-prompt 64] [--json OUT.json]

Mining itself is an experiment: ``workbench run examples/masterprints_adam_latent.yaml --set attack.budget.evaluations=2000``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from typing import Any

from attacks.masterprints.prompts import load_prompts
from workbench import argtypes

logger = logging.getLogger(__name__)

EPILOG = """examples:
  workbench masterprints list
  workbench masterprints evaluate runs/masterprints_adam_latent-.../outputs/master.png --prompts targets.txt
  workbench masterprints evaluate master.png --prompts 'a red circle' 'a blue star' --clip toy --json scores.json
  workbench masterprints evaluate master.png --prompts targets.txt --through-vae toy   # inside the VAE's latent space?
  workbench masterprints evaluate master.png --prompts targets.txt --through-vae toy --fit-steps 300 --latent-size 32
  workbench run examples/masterprints_cma_latent.yaml --set attack.budget.seconds=600   # mine
"""


def cmd_list(args: argparse.Namespace) -> int:
    from attacks.masterprints import OPTIMIZERS, SPACES  # deferred: numpy, torch

    for title, registry in (("optimizers", OPTIMIZERS), ("spaces", SPACES)):
        print(f"{title}:")
        for name in registry.names():
            cls = registry.get(name)
            fields = ", ".join(
                f"{k}={v.default!r}" for k, v in cls.config_class.model_fields.items() if k != "name"
            )
            kind = "" if title == "spaces" else ("  [gradient]" if cls.needs_gradients else "  [black-box]")
            print(f"  {name}{kind}: {fields}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from attacks.masterprints.evaluation import evaluate_fooling  # deferred: numpy, scipy, torch
    from attacks.masterprints.models import load_scorer  # deferred: numpy, torch
    from attacks.masterprints.spaces import load_start_image  # deferred: numpy, torch
    from attacks.masterprints.toy_images import ToyWorldImages  # deferred: numpy, torch
    from workbench.runtime import Runtime  # deferred: numpy, torch

    try:
        prompts = load_prompts(
            args.prompts[0] if len(args.prompts) == 1 and args.prompts[0].endswith(".txt") else args.prompts,
            what="--prompts",
        )
        from pathlib import Path

        from PIL import Image

        if not Path(args.image).is_file():
            raise FileNotFoundError(f"image {args.image!r} does not exist")
        with Image.open(args.image) as im:
            size = im.size[0]
        image = load_start_image(args.image, size)  # an RGB, square image, as it is
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    runtime = Runtime(seed=0, device=args.device)
    scorer = load_scorer(args.clip, runtime, kind=args.scorer)
    real = ToyWorldImages(size=image.shape[-1], per_prompt=args.real_per_prompt, seed=args.world_seed)
    if args.through_vae:
        from attacks.masterprints.models import load_vae  # deferred: numpy, torch
        from attacks.masterprints.spaces.vae_latent import vae_latent_fit  # deferred: numpy, torch

        vae = load_vae(args.through_vae, runtime, image_size=image.shape[-1])
        try:
            trip = vae_latent_fit(vae, image[None], args.fit_steps, args.latent_size)[0]  # (3, H, W)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        mse = float(((trip - image) ** 2).mean())
        how = f"a latent fitted in {args.fit_steps} steps" if args.fit_steps else "a round trip"
        print(
            f"scoring the image drawn by the VAE {args.through_vae!r} from {how} "
            f"(MSE to the image {mse:.4f}, PSNR {10 * math.log10(1 / max(mse, 1e-10)):.1f} dB)"
        )
        image = trip
    report = evaluate_fooling(scorer, image[None], prompts, real)
    print(f"{'prompt':40s} {'master':>8s} {'best real':>10s} {'fooling':>8s}")
    for r in report.per_prompt:
        print(
            f"{r.prompt[:40]:40s} {r.master_score:8.4f} {r.best_real_score:10.4f} {r.fooling_accuracy:8.3f}{'  *' if r.outranks else ''}"
        )
    print(
        f"fooling accuracy {report.fooling_accuracy:.4f}; outranks every real image for {report.outrank_fraction:.0%} of the prompts (*)"
    )
    if args.json:
        out: dict[str, Any] = {"model": args.clip, "image": str(args.image), **report.to_metrics()}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
    return 0


def register(subparsers: Any) -> None:
    """Add ``masterprints list|evaluate`` to the ``workbench`` CLI."""
    p = subparsers.add_parser(
        "masterprints",
        help="CLIPMasterPrints: list optimisers and spaces, evaluate a master image",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="masterprints_command", metavar="list|evaluate", required=True)
    q = sub.add_parser("list", help="the registered optimisers and search spaces with their settings")
    q.set_defaults(func=cmd_list)
    q = sub.add_parser(
        "evaluate",
        help="score an image against real images of each prompt's class (toy world)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("image", help="a square RGB image file")
    q.add_argument(
        "--prompts", nargs="+", required=True, help="prompts, or one .txt file with one prompt per line"
    )
    q.add_argument(
        "--clip", default="toy", help="the model: toy, clip-b32, clip-l14, a hub id, a folder, or dummy"
    )
    q.add_argument("--scorer", default="clip", choices=["clip", "siglip"])
    q.add_argument(
        "--real-per-prompt",
        type=argtypes.bounded_int(1, 100_000),
        default=64,
        help="real (toy-world) images per prompt",
    )
    q.add_argument("--world-seed", type=argtypes.seed, default=0)
    q.add_argument("--device", default=None, help="cpu, cuda, ... (default: accelerate decides)")
    q.add_argument("--json", help="also write the per-prompt scores to this JSON file")
    q.add_argument(
        "--through-vae",
        default=None,
        help="score the image's encode-decode round trip through this VAE (toy, sd15, a folder): "
        "is the image inside that VAE's latent space?",
    )
    q.add_argument(
        "--fit-steps",
        type=int,
        default=0,
        help="with --through-vae: refine the round trip's latent by this many Adam steps on the MSE to the "
        "image (the closest the decoder draws it)",
    )
    q.add_argument(
        "--latent-size",
        type=int,
        default=None,
        help="with --through-vae: the latent grid's side, as attack.space.latent_size (default: the image's / f)",
    )
    q.set_defaults(func=cmd_evaluate)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="masterprints")
    register(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args()
    sys.exit(ns.func(ns))
