"""Time per image of the layout methods against the stock pipeline, measured side by side in one run.

    OMP_NUM_THREADS=1 python benchmarks/bench_layout.py                 # toy SD if trained, else toy-shaped random weights
    python benchmarks/bench_layout.py --steps 25 --batch 8 --repeats 3 --json

Methods run interleaved (stock, then each method, repeat), on the same 2-object shapes-world prompts
and seeds; the ratio is each method's median seconds per image over the stock pipeline's. The issue's
target: training-free guidance (``box_guidance``, the ``fast`` preset) at most 2x.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

logger = logging.getLogger("bench_layout")


def toy_shaped_pipeline(seed: int = 0):
    """A ``StableDiffusionPipeline`` with the toy SD's architecture (UNet, VAE, 128-wide text encoder) and
    random weights: the same compute as the trained toy SD."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    from toyworld.train.unet import SCHEDULER_CONFIG, UNET_CONFIG
    from toyworld.train.vae import VAE_CONFIG
    from workbench.dummy import dummy_text_encoder, dummy_tokenizer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tok = dummy_tokenizer()
        text = dummy_text_encoder(tok, seed=seed, hidden_size=128)
        unet = UNet2DConditionModel(**{**UNET_CONFIG, "cross_attention_dim": 128}).eval()
        vae = AutoencoderKL(**VAE_CONFIG).eval()
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=tok,
        unet=unet,
        scheduler=DDIMScheduler(**SCHEDULER_CONFIG, set_alpha_to_one=False, steps_offset=1),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_pipeline(choice: str):
    if choice == "toy-shaped":
        return toy_shaped_pipeline(), "toy-shaped random weights"
    from workbench.loading.choice import build_sd_pipeline
    from workbench.runtime import Runtime

    if choice == "auto":
        from workbench.loading import resolve_model

        if not resolve_model("toy", kind="sd").available:
            return toy_shaped_pipeline(), "toy-shaped random weights (the toy SD is not trained yet)"
        choice = "toy"
    pipe, name = build_sd_pipeline(choice, Runtime(seed=0, device="cpu"))
    return pipe, name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="auto", help="auto | toy-shaped | dummy | toy | a preset / folder")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", default="box_guidance,boxdiff,layout_guidance_paper,regions")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from generators.layout.box_guidance import BoxDiffConfig, BoxGuidanceConfig
    from generators.layout.methods import layout_request
    from generators.layout.planner import ShapesGrammarPlanner
    from toyworld.world import ShapesWorld
    from workbench.generation import build_generator

    pipe, model_name = load_pipeline(args.model)
    # BoxDiff alters the first half of the steps (25 of 50 in the paper)
    options = {"boxdiff": BoxDiffConfig(guided_steps=(args.steps + 1) // 2)}
    methods = {"stock": build_generator("stock", pipe)}
    for name in args.methods.split(","):
        if name == "layout_guidance_paper":  # the paper's setting: 5 iterations in the first 10 steps
            methods[name] = build_generator("box_guidance", pipe, BoxGuidanceConfig.preset("layout-guidance"))
        else:
            methods[name] = build_generator(name, pipe, options.get(name))

    def call(fn, prompts, layouts, regions, gens):
        return fn(layout_request(prompts, layouts, regions, gens, args.steps, 5.0))

    world, planner = ShapesWorld(64), ShapesGrammarPlanner()
    prompts = [world.scene(999, "test", i, n_objects=2).caption() for i in range(args.batch)]
    layouts = [planner.plan(p) for p in prompts]
    regions = [planner.region_prompts(p) for p in prompts]
    times: dict[str, list[float]] = {m: [] for m in methods}
    for fn in methods.values():  # warm-up
        call(fn, prompts[:1], layouts[:1], regions[:1], [torch.Generator().manual_seed(0)])
    for r in range(args.repeats):
        for name, fn in methods.items():
            gens = [torch.Generator().manual_seed(1000 * r + i) for i in range(len(prompts))]
            start = time.perf_counter()
            call(fn, prompts, layouts, regions, gens)
            times[name].append((time.perf_counter() - start) / len(prompts))
    stock = statistics.median(times["stock"])
    result = {
        "model": model_name,
        "steps": args.steps,
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "seconds_per_image": {m: statistics.median(t) for m, t in times.items()},
        "ratio_vs_stock": {m: statistics.median(t) / stock for m, t in times.items()},
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"model: {model_name}; {args.steps} steps, batch {args.batch}, {torch.get_num_threads()} thread(s)"
        )
        print(f"{'method':<24}{'s / image':>12}{'x stock':>10}")
        for m in methods:
            print(f"{m:<24}{result['seconds_per_image'][m]:>12.4f}{result['ratio_vs_stock'][m]:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
