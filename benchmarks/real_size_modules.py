"""One measured run of every module at real size (512 px, 64 x 64 latents): :data:`MODULES`.

Each run takes a :class:`~real_size_env.RealSizeEnv` and returns its numbers: ``step_s`` (one denoising
step, or one mining step), ``call_s`` (the whole call: text encoding, VAE, captioning included),
``images`` (images made by the call) and what else the module measures. ``env.steps`` sets the steps
per call (1 on the CPU).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from real_size_env import RealSizeEnv, UNetWindow, timed

SIDE = 512
PROMPT = "a large red circle on the left and a small blue star in the top right"
CLIP_EMBED_DIM = 768  # CLIP ViT-L/14's projection: the neighbours' embeddings


@dataclass(frozen=True)
class Module:
    """A measured run and the real-size models it needs (``env.keep`` frees the others)."""

    run: Callable[[RealSizeEnv], dict[str, Any]]
    models: frozenset[str]
    what: str


def _generate(
    env: RealSizeEnv, name: str, pipe: Any, conditions: dict[str, list[Any]], **options: Any
) -> dict:
    """One registered generator's call on one prompt, its UNet window timed."""
    from workbench.generation import GenerationRequest, build_generator

    generator = build_generator(name, pipe, options or None)
    request = GenerationRequest(
        [PROMPT],
        env.generators(1),
        num_inference_steps=env.steps,
        guidance_scale=7.5,
        height=SIDE,
        width=SIDE,
        conditions=conditions,
    )
    with UNetWindow(pipe.unet, env) as window:
        images, call_s = timed(env, lambda: generator(request))
    _check(images, 1)
    return {
        "step_s": window.seconds / env.steps,
        "step_cpu_s": window.cpu_seconds / env.steps,
        "call_s": call_s,
        "unet_calls": window.calls,
        "images": 1,
    }


def _check(images: torch.Tensor, n: int, side: int = SIDE) -> None:
    assert images.shape == (n, 3, side, side), tuple(images.shape)
    assert torch.isfinite(images).all()


def _stock(model: str) -> Callable[[RealSizeEnv], dict]:
    return lambda env: _generate(env, "stock", env.sd(model), {})


def _freecustom(env: RealSizeEnv) -> dict:
    from generators.multiconcept import Concept

    g = torch.Generator().manual_seed(0)
    masks = [torch.zeros(SIDE, SIDE, dtype=torch.bool) for _ in range(2)]
    masks[0][96:416, 32:256] = True
    masks[1][96:416, 256:480] = True
    concepts = [
        Concept(torch.rand(3, SIDE, SIDE, generator=g), prompt, mask)
        for prompt, mask in zip(["a red circle", "a blue star"], masks)
    ]
    return {**_generate(env, "freecustom", env.sd(), {"concepts": [concepts]}), "references": 2}


def _layout(env: RealSizeEnv, name: str) -> dict:
    from generators.layout import ShapesGrammarPlanner

    planner = ShapesGrammarPlanner()
    conditions = {"layouts": [planner.plan(PROMPT)], "region_prompts": [planner.region_prompts(PROMPT)]}
    out = _generate(env, name, env.sd(), conditions)
    if name == "box_guidance":
        from generators.layout.box_guidance.generator import BoxGuidanceGenerator

        side = BoxGuidanceGenerator(env.sd()).guided.attention_side((SIDE // 8, SIDE // 8))
        assert side == 16, f"box guidance picks attention side {side} at {SIDE} px, expected 16"
        out["attention_side"] = side
    return out


def _neighbours(env: RealSizeEnv) -> Any:
    from generators.retrieval import RetrievedNeighbours

    g = torch.Generator().manual_seed(1)
    embeds = torch.nn.functional.normalize(torch.randn(4, CLIP_EMBED_DIM, generator=g), dim=-1)
    return RetrievedNeighbours(
        images=torch.rand(2, 3, SIDE, SIDE, generator=g),
        image_embeds=embeds[:2],
        text_embeds=embeds[2:],
        texts=["a zorvik emblem", "a zorvik emblem on the left"],
        scores=torch.tensor([0.9, 0.8]),
        ids=[0, 1],
        boxes=[(0.1, 0.1, 0.6, 0.6), (0.2, 0.2, 0.9, 0.9)],
    )


def _retrieval(mode: str) -> Callable[[RealSizeEnv], dict]:
    def run(env: RealSizeEnv) -> dict:
        from generators.retrieval import RetrievalAugmentedPipeline, RetrievalConditioner

        pipe = env.sd()
        conditions: dict[str, list[Any]] = {"neighbours": [_neighbours(env)]}
        options: dict[str, Any] = {}
        if mode == "conditioned":  # a random-weight conditioner (a trained one is loaded with from_export)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                cond = RetrievalConditioner(CLIP_EMBED_DIM, pipe.unet.config.cross_attention_dim, 2)
            cond = cond.to(device=env.device, dtype=env.dtype)
            pipe = RetrievalAugmentedPipeline.from_pipe(pipe, retrieval_conditioner=cond)
        if mode == "blend":  # one decoder-fitting step of the neighbour (50 by default)
            conditions["target_boxes"] = [(0.0, 0.25, 0.5, 0.75)]
            options["blend"] = {"inversion_steps": 1}
        return {**_generate(env, f"retrieval_{mode}", pipe, conditions, **options), "neighbours": 2}

    return run


def _paraphrase(env: RealSizeEnv) -> dict:
    from attacks.image import AttackModels
    from attacks.paraphrase import VisualParaphrase

    pipe = env.sd("sd15", "img2img")
    models = AttackModels(env.runtime, img2img={"real": pipe}, captioners={"real": env.captioner()})
    attack = VisualParaphrase(
        strength=0.5, num_inference_steps=2 * env.steps, model="real", captioner="real", models=models
    )
    images = torch.rand(1, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(2))
    captions, caption_s = timed(env, lambda: attack.captioner.caption(images))
    with UNetWindow(pipe.unet, env) as window:
        out, call_s = timed(env, lambda: attack(images, env.generators(1), captions=captions))
    _check(out, 1)
    return {
        "step_s": window.seconds / env.steps,
        "step_cpu_s": window.cpu_seconds / env.steps,
        "call_s": call_s + caption_s,
        "caption_s": caption_s,
        "unet_calls": window.calls,
        "images": 1,
    }


def _watermark(name: str) -> Callable[[RealSizeEnv], dict]:
    def run(env: RealSizeEnv) -> dict:
        from attacks.watermarks import WATERMARKS

        pipe = env.sd("sd21-base")
        wm = WATERMARKS.get(name)(
            pipe=pipe, num_inference_steps=env.steps, inversion_steps=env.steps, runtime=env.runtime
        )
        with UNetWindow(pipe.unet, env) as window:
            images, embed_s = timed(env, lambda: wm.generate(prompts=[PROMPT], generator=env.generators(1)))
        _check(images, 1)
        scores, detect_s = timed(env, lambda: wm.score(images))
        assert torch.isfinite(scores).all()
        return {
            "step_s": window.seconds / env.steps,
            "step_cpu_s": window.cpu_seconds / env.steps,
            "call_s": embed_s + detect_s,
            "embed_s": embed_s,
            "detect_s": detect_s,
            "images": 1,
        }

    return run


def _masterprint(space: str) -> Callable[[RealSizeEnv], dict]:
    def run(env: RealSizeEnv) -> dict:
        from attacks.masterprints.assemble import build_setup
        from attacks.masterprints.config import AttackConfig, ModelsConfig
        from attacks.masterprints.mining import BudgetConfig, mine
        from attacks.masterprints.scorers import CLIPScorer

        model, processor = env.clip()
        scorer = CLIPScorer(model, processor.tokenizer, processor.image_processor, name="clip-l14")
        vae = env.sd().vae if space == "vae_latent" else None
        population = 2
        steps = env.steps + 1  # the first step warms up; the next env.steps are measured
        attack = AttackConfig(
            prompts=["a red circle", "a blue square", "a yellow star", "a green triangle"],
            space={"name": space},
            optimizer={"name": "adam", "population": population},
            budget={"evaluations": steps * population},
        )
        setup = build_setup(attack, ModelsConfig(), env.runtime, scorer=scorer, vae=vae)
        first, first_s = timed(env, lambda: setup.optimizer.step())
        cpu = time.process_time()
        result, mine_s = timed(
            env, lambda: mine(setup.optimizer, BudgetConfig(evaluations=steps * population))
        )
        assert result.image.shape[-1] == setup.image_size == 224
        measured = setup.optimizer.steps - 1
        return {
            "step_s": mine_s / measured,
            "step_cpu_s": (time.process_time() - cpu) / measured,
            "call_s": first_s + mine_s,
            "evals_per_s": measured * population / mine_s,
            "population": population,
            "images": population,
        }

    return run


MODULES: dict[str, Module] = {
    "stock_sd15": Module(_stock("sd15"), frozenset({"sd15"}), "stock pipeline, SD-1.5"),
    "stock_sd21": Module(_stock("sd21-base"), frozenset({"sd21-base"}), "stock pipeline, SD-2.1-base"),
    "freecustom": Module(_freecustom, frozenset({"sd15"}), "FreeCustom, 2 references"),
    "box_guidance": Module(lambda env: _layout(env, "box_guidance"), frozenset({"sd15"}), "box guidance"),
    "regions": Module(lambda env: _layout(env, "regions"), frozenset({"sd15"}), "region prompts"),
    "retrieval_reference": Module(
        _retrieval("reference"), frozenset({"sd15"}), "retrieval, reference attention"
    ),
    "retrieval_conditioned": Module(_retrieval("conditioned"), frozenset({"sd15"}), "retrieval, conditioner"),
    "retrieval_blend": Module(_retrieval("blend"), frozenset({"sd15"}), "retrieval, neighbour blend"),
    "paraphrase": Module(
        _paraphrase, frozenset({"sd15", "blip-base"}), "visual paraphrase (BLIP-base + img2img)"
    ),
    "treering": Module(_watermark("treering"), frozenset({"sd21-base"}), "Tree-Ring embed + detect"),
    "gaussian_shading": Module(
        _watermark("gaussian_shading"), frozenset({"sd21-base"}), "Gaussian Shading embed + detect"
    ),
    "masterprint_latent": Module(
        _masterprint("vae_latent"), frozenset({"sd15", "clip-l14"}), "master print, SD VAE latent, CLIP-L/14"
    ),
    "masterprint_pixels": Module(
        _masterprint("pixels"), frozenset({"clip-l14"}), "master print, pixels, CLIP-L/14"
    ),
}
