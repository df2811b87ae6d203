"""Tree-Ring and Gaussian Shading detection without attack, with and without decoder inversion, side by
side in one run on the same images.

    python benchmarks/bench_latent_detection.py                         # toy SD, 16 + 16 images
    python benchmarks/bench_latent_detection.py --decoder-steps 0,50,100 --images 32
    python benchmarks/bench_latent_detection.py --only treering --radius 2,4,6 --decoder-steps 100

Generates ``--images`` watermarked images and as many un-watermarked ones (other noise, same prompts:
toy-world captions of 1-2 objects), then scores both with each decoder-inversion step count and prints TPR
at 1% FPR (the null's resolution is ``1 / images``), the share of watermarked scores above every null
score, and the detection time against detection without decoder inversion.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402


def main() -> None:
    from attacks.watermarks import build_watermark
    from metrics.functional.detection import tpr_at_fpr
    from toyworld.world import sample_scene
    from workbench.loading import load_sd_pipeline
    from workbench.runtime import Runtime

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="toy")
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10, help="DDIM generation steps")
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--inversion-steps", type=int, default=50)
    ap.add_argument("--decoder-steps", default="0,100", help="comma-separated decoder-inversion step counts")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--radius",
        default="",
        help="comma-separated Tree-Ring key radii in latent pixels (default: the watermark's, 2 at 16x16 latents)",
    )
    ap.add_argument("--only", choices=["treering", "gaussian_shading"], default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pipe = load_sd_pipeline(args.model, Runtime(seed=0, device="cpu"))
    n = args.images
    prompts = [sample_scene(np.random.default_rng([5, i]), n_objects=(1, 2)).caption() for i in range(n)]
    common = {
        "num_inference_steps": args.steps,
        "guidance_scale": args.guidance,
        "inversion_steps": args.inversion_steps,
    }
    cases = [
        ("treering", {"radius": int(r)} if r else {})
        for r in (args.radius.split(",") if args.radius else [""])
    ]
    cases.append(("gaussian_shading", {"hw_factor": 4}))
    for name, options in cases:
        if args.only and name != args.only:
            continue
        wm = build_watermark(name, pipe=pipe, **common, **options)
        marked = wm.generate(
            prompts=prompts, generator=[torch.Generator().manual_seed(100 + i) for i in range(n)]
        )
        clean = wm.ddim(
            prompt=prompts,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            output_type="pt",
            generator=[torch.Generator().manual_seed(200 + i) for i in range(n)],
        ).images.float()  # (n, 3, H, W)
        base = None
        for steps in (int(s) for s in args.decoder_steps.split(",")):
            wm.config.decoder_inversion_steps = steps
            t = time.perf_counter()
            pos, null = wm.score(marked), wm.score(clean)  # (n,) each
            seconds = time.perf_counter() - t
            base = base or seconds
            r = tpr_at_fpr(null, pos, 0.01)
            above = (pos > null.max()).float().mean().item()
            print(
                f"{name + ''.join(f' {k}={v}' for k, v in options.items()):17s} decoder steps {steps:4d}: TPR@1%FPR {r['tpr']:.3f}  above every null {above:.3f}  "
                f"time {seconds:.0f} s ({seconds / base:.1f}x)",
                flush=True,
            )


if __name__ == "__main__":
    main()
