"""Time of FreeCustom (MultiConceptPipeline, MRSA) against the stock pipeline on the same batch, side by side.

    OMP_NUM_THREADS=1 python benchmarks/bench_multiconcept.py [--model dummy|toy-shaped|toy|sd15|sd15-random|FOLDER]
        [--batch 4] [--concepts 2] [--steps 10] [--repeats 3] [--size PX] [--device cpu|cuda]

Both pipelines share the same components and generate the same batch (``--batch`` images of one prompt,
same seeds, DDIM); FreeCustom adds ``--concepts`` reference images (the toy world's objects with their
masks) under the paper's settings (layers "freecustom", mask weight 3, style fidelity 1). Calls alternate
(stock, FreeCustom, stock, ...) after one warm-up call each; the median of ``--repeats`` calls is reported
with the ratio (target: at most 1.6). It also checks that MultiConceptPipeline with ``mrsa=False`` gives
the stock pipeline's pixels bit for bit. ``toy-shaped`` builds the toy SD's architecture with random
weights (its cost before it is trained); ``sd15-random`` builds SD-1.5's real architecture with random
weights (GPU-sized: ~1B parameters), for the real-scale ratio where no weights can be downloaded.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time

import torch

logger = logging.getLogger("bench_multiconcept")


def sd15_random_pipeline(runtime) -> object:
    """SD-1.5's architecture (UNet, VAE, 12-layer text encoder) with random weights, on the runtime's device."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from workbench.dummy import (
        SD15_TEXT_CONFIG,
        SD15_UNET_CONFIG,
        SD15_VAE_CONFIG,
        dummy_scheduler,
        dummy_tokenizer,
    )

    torch.manual_seed(0)
    tokenizer = dummy_tokenizer()
    text = CLIPTextModel(CLIPTextConfig(**SD15_TEXT_CONFIG, vocab_size=len(tokenizer))).eval()
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL(**SD15_VAE_CONFIG).eval(),
        text_encoder=text,
        tokenizer=tokenizer,
        unet=UNet2DConditionModel(**SD15_UNET_CONFIG).eval(),
        scheduler=dummy_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    return pipe.to(runtime.device, runtime.dtype)


def toy_shaped_pipeline(runtime) -> object:
    """The toy SD's architecture (its UNet and VAE configs, a 4-layer width-128 text encoder), random weights:
    the toy SD's cost before it is trained."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel

    from toyworld.train.unet import UNET_CONFIG
    from toyworld.train.vae import VAE_CONFIG
    from workbench.dummy import dummy_scheduler, dummy_text_encoder, dummy_tokenizer

    torch.manual_seed(0)
    tokenizer = dummy_tokenizer()
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL(**VAE_CONFIG).eval(),
        text_encoder=dummy_text_encoder(
            tokenizer, hidden_size=UNET_CONFIG["cross_attention_dim"], num_layers=4
        ),
        tokenizer=tokenizer,
        unet=UNet2DConditionModel(**UNET_CONFIG).eval(),
        scheduler=dummy_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    return pipe.to(runtime.device, runtime.dtype)


def build_pipeline(name: str, runtime) -> object:
    if name == "toy-shaped":
        return toy_shaped_pipeline(runtime)
    if name == "dummy":
        from workbench.dummy import dummy_sd_pipeline

        return dummy_sd_pipeline(runtime=runtime)
    if name == "sd15-random":
        return sd15_random_pipeline(runtime)
    from workbench.loading import load_sd_pipeline

    return load_sd_pipeline(name, runtime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default="dummy", help="dummy, toy-shaped, toy, sd15, sd15-random, a hub id or a folder"
    )
    parser.add_argument("--batch", type=int, default=4, help="images per call")
    parser.add_argument("--concepts", type=int, default=2, help="reference images (1-8)")
    parser.add_argument("--steps", type=int, default=10, help="DDIM steps per call")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per pipeline")
    parser.add_argument(
        "--size", type=int, default=None, help="image side in pixels (default: the pipeline's)"
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: accelerate decides)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    if args.threads:
        torch.set_num_threads(args.threads)

    import numpy as np
    from diffusers import DDIMScheduler

    from generators.multiconcept import Concept, MultiConceptPipeline
    from generators.multiconcept.text_only import text_only_pipeline
    from generators.multiconcept.toy_concepts import sample_compositions
    from workbench.runtime import Runtime

    rt = Runtime(seed=0, precision=args.precision, device=args.device)
    pipe = build_pipeline(args.model, rt)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    stock = text_only_pipeline(pipe)
    mc = MultiConceptPipeline.from_pipe(pipe)
    size = args.size or pipe.unet.config.sample_size * pipe.vae_scale_factor

    # concepts: toy objects (pairs / triples of distinct shapes and colours), rendered at the output size
    comp = sample_compositions(np.random.default_rng(0), 1, 2 if args.concepts <= 2 else 3)[0]
    toys = (list(comp.concepts) * 8)[: args.concepts]
    concepts = []
    for toy in toys:
        image, mask = toy.render(size)
        concepts.append(Concept(image, toy.prompt, mask))
    prompt = comp.prompt
    common = {"num_inference_steps": args.steps, "height": size, "width": size, "output_type": "pt"}

    def gens() -> list[torch.Generator]:
        return [rt.generator("image", i) for i in range(args.batch)]

    def run_stock() -> torch.Tensor:
        return stock(prompt, num_images_per_prompt=args.batch, generator=gens(), **common).images

    def run_mc(mrsa: bool = True) -> torch.Tensor:
        return mc(
            prompt, concepts, mrsa=mrsa, num_images_per_prompt=args.batch, generator=gens(), **common
        ).images

    def timed(fn) -> float:
        if rt.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if rt.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    identical = torch.equal(run_stock(), run_mc(mrsa=False))  # also the warm-up of both
    run_mc()
    t_stock, t_mc = [], []
    for _ in range(args.repeats):
        t_stock.append(timed(run_stock))
        t_mc.append(timed(run_mc))
    s, m = statistics.median(t_stock), statistics.median(t_mc)
    logger.info(
        "model %s on %s (%s), %dx%d px, batch %d, %d concept(s), %d DDIM steps, guidance 7.5, %d repeat(s)",
        args.model, rt.device, args.precision, size, size, args.batch, args.concepts, args.steps, args.repeats,
    )  # fmt: skip
    logger.info("stock pipeline      : %.3f s per call (%s)", s, ", ".join(f"{t:.3f}" for t in t_stock))
    logger.info("FreeCustom (MRSA)   : %.3f s per call (%s)", m, ", ".join(f"{t:.3f}" for t in t_mc))
    logger.info("time ratio          : %.3fx (target <= 1.6x)", m / s)
    logger.info("mrsa=False identical to the stock pipeline: %s", identical)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
