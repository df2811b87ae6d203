"""Batched visual paraphrase against one image at a time, measured side by side in one run.

    python benchmarks/bench_paraphrase.py                       # tiny random-weight SD + BLIP (CPU)
    python benchmarks/bench_paraphrase.py --model toy --captioner toy --images 16 --source scenes --size 64
    python benchmarks/bench_paraphrase.py --device cuda --model sd15 --captioner blip-base

Prints images/s of both ways and their ratio (target on 2 CPU cores: >= 3x). Both ways caption and
regenerate the same images with the same per-image generators; the script checks that they agree.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

logger = logging.getLogger("bench_paraphrase")


def build(args):
    from attacks.image import AttackModels
    from attacks.paraphrase import TransformersCaptioner, VisualParaphrase
    from workbench.runtime import Runtime

    runtime = Runtime(seed=0, device=args.device)
    if args.model == "dummy":
        from workbench.dummy import dummy_captioner, dummy_sd_pipeline

        pipe = dummy_sd_pipeline("img2img", runtime=runtime, image_size=args.size)
        models = AttackModels(
            runtime,
            img2img={"dummy": pipe},
            captioners={"dummy": TransformersCaptioner(*dummy_captioner(runtime=runtime), max_new_tokens=12)},
        )
    else:
        models = AttackModels(runtime)
    attack = VisualParaphrase(
        strength=args.strength,
        guidance_scale=args.guidance,
        num_inference_steps=args.steps,
        decoder_inversion_steps=args.decoder_inversion_steps,
        model=args.model,
        captioner="dummy" if args.model == "dummy" else args.captioner,
        models=models,
    )
    return runtime, attack


def make_images(source: str, n: int, size: int) -> torch.Tensor:
    """`(n, 3, size, size)` in [0, 1]: uniform noise, or toy-world scenes of the held-out seed 999."""
    if source == "noise":
        return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))
    from toyworld.world import ShapesWorld

    return ShapesWorld(size).batch(999, "test", 0, n).images


def timed(fn, *args) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def one_at_a_time(attack, images: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
    return torch.cat([attack(images[i : i + 1], [generators[i]]) for i in range(images.shape[0])])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="dummy", help="img2img model: dummy (random weights), toy, sd15, ..."
    )
    parser.add_argument("--captioner", default="toy", help="captioner preset when --model is not dummy")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--size", type=int, default=32, help="image side (dummy model: its native size)")
    parser.add_argument(
        "--source",
        choices=["noise", "scenes"],
        default="noise",
        help="images: uniform noise, or held-out toy-world scenes (what the watermark benchmark paraphrases)",
    )
    parser.add_argument("--strength", type=float, default=0.4)
    parser.add_argument("--guidance", type=float, default=5.0)
    parser.add_argument(
        "--steps", type=int, default=20, help="steps at strength 1 (int(steps * strength) run)"
    )
    parser.add_argument(
        "--decoder-inversion-steps",
        type=int,
        default=0,
        help="fit the starting latents through the VAE decoder",
    )
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats; the best is reported")
    parser.add_argument("--device", default=None)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice / OMP_NUM_THREADS)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)

    runtime, attack = build(args)
    images = make_images(args.source, args.images, args.size)
    gens = lambda: [runtime.generator("bench", i, device="cpu") for i in range(args.images)]  # noqa: E731

    attack(images[:2], gens()[:2])  # warm-up (lazy loading, allocator)
    batched_s, one_s = float("inf"), float("inf")
    for _ in range(args.repeats):
        t, batched = timed(attack, images, gens())
        batched_s = min(batched_s, t)
        t, single = timed(one_at_a_time, attack, images, gens())
        one_s = min(one_s, t)
    diff = float((batched - single).abs().max())
    print(
        f"device {runtime.device}, torch threads {torch.get_num_threads()}, model {args.model}, {args.images} images "
        f"{args.size}x{args.size} ({args.source}), strength {args.strength}, guidance {args.guidance}, "
        f"{int(args.steps * args.strength)} denoising steps, {args.decoder_inversion_steps} decoder inversion steps"
    )
    print(
        f"batched (one call of {args.images}): {args.images / batched_s:8.2f} images/s  ({batched_s:.3f} s)"
    )
    print(f"one image at a time:        {args.images / one_s:8.2f} images/s  ({one_s:.3f} s)")
    print(f"speed-up: {one_s / batched_s:.2f}x  (max |batched - single| = {diff:.2e})")


if __name__ == "__main__":
    main()
