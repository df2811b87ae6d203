"""bf16 autocast (``runtime.autocast: bf16``) against fp32, side by side in one run.

    OMP_NUM_THREADS=1 python benchmarks/bench_autocast.py [--model auto] [--batch 8] [--steps 10] [--repeats 3]

The same prompts, seeds and pipeline (fp32 weights) generate ``--batch`` images per call, once in plain fp32
and once inside ``Runtime(autocast="bf16").autocast()`` (what the generation job, layout, multi-concept and
retrieval experiments do with the option set), alternating ``--repeats`` times. Printed: seconds per image
of each (medians), the speed ratio, and how far the bf16 images lie from the fp32 ones (largest and mean
absolute pixel difference, [0, 1] images). ``--model auto`` is the trained toy SD when it is here, else
random-weight components of the same shapes (``dummy``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

PROMPTS = ["a large red circle", "a small blue square on the left", "a striped yellow star", "a green cross"]
# what the docs call within tolerance: the mean absolute pixel difference of an image ([0, 1] scale)
MEAN_TOLERANCE = 0.02


def generate(pipe, runtime, batch: int, steps: int, size: int | None, autocast: bool) -> torch.Tensor:
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(batch)]
    generators = runtime.generators(range(batch), "image")
    kwargs = {"height": size, "width": size} if size else {}
    with torch.no_grad(), runtime.autocast() if autocast else torch.autocast("cpu", enabled=False):
        out = pipe(prompts, num_inference_steps=steps, generator=generators, output_type="pt", **kwargs)
    return out.images.float()  # (B, 3, H, W) in [0, 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="auto", help="auto | toy | dummy | a preset or pipeline folder")
    parser.add_argument("--batch", type=int, default=8, help="images per call")
    parser.add_argument("--steps", type=int, default=10, help="denoising steps")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timed calls of each (medians)")
    parser.add_argument("--size", type=int, default=None, help="image side (default: the model's)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args(argv)

    from workbench.loading.choice import build_sd_pipeline
    from workbench.runtime import Runtime

    plain = Runtime(seed=0, device=args.device)
    mixed = Runtime(seed=0, device=args.device, autocast="bf16")
    pipe, source = build_sd_pipeline(args.model, plain, args.size)
    pipe.set_progress_bar_config(disable=True)
    generate(pipe, plain, 1, 1, args.size, autocast=False)  # warm-up of both paths
    generate(pipe, mixed, 1, 1, args.size, autocast=True)
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    images: dict[str, torch.Tensor] = {}
    for _ in range(args.repeats):
        for name, rt in (("fp32", plain), ("bf16", mixed)):
            start = time.perf_counter()
            images[name] = generate(pipe, rt, args.batch, args.steps, args.size, autocast=name == "bf16")
            times[name].append((time.perf_counter() - start) / args.batch)
    fp32, bf16 = statistics.median(times["fp32"]), statistics.median(times["bf16"])
    diff = (images["bf16"] - images["fp32"]).abs()  # (B, 3, H, W)
    per_image = diff.flatten(1).mean(dim=1)  # (B,)
    print(
        f"model: {source}; batch {args.batch}, {args.steps} steps, {tuple(images['fp32'].shape[-2:])} px, "
        f"device {plain.device}, torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':12s} {'s / image':>10s}")
    print(f"{'fp32':12s} {fp32:10.4f}")
    print(f"{'bf16 autocast':12s} {bf16:10.4f}   speed-up {fp32 / bf16:.2f}x")
    print(
        f"bf16 vs fp32 images: max |difference| {float(diff.max()):.4f}, mean |difference| {float(diff.mean()):.4f} "
        f"(worst image {float(per_image.max()):.4f}; within tolerance {MEAN_TOLERANCE}: "
        f"{'yes' if float(per_image.max()) <= MEAN_TOLERANCE else 'no'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
