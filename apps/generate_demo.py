"""Generation demo: any registered generator that needs nothing but a prompt, side by side with the stock
pipeline on the same noise, scored by CLIP.

Its method list is :data:`workbench.generation.GENERATORS` as the plugins fill it, so a generator added
in one file (an entry point, or ``WORKBENCH_PLUGINS=my_method.py``) appears here with no edit. Run it
alone with ``python -m apps.generate_demo`` or through the hub (``workbench demo``). The handler
:func:`generate` is a plain function, testable without a browser.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from apps import limits, register_demo
from workbench.generation import GENERATORS, GenerationRequest, build_generator
from workbench.loading.choice import build_clip, build_sd_pipeline
from workbench.plugins import load_plugins
from workbench.runtime import Runtime
from workbench.sampling import WORKBENCH_SAMPLING

NAME = "generate"
MAX_STEPS = 100
GUIDANCE_RANGE = (1.0, 15.0)
MODEL_CHOICES = ("auto", "toy", "dummy")
DEFAULT_PROMPT = "a large red circle on the left"
_LOCK = threading.Lock()
_MODELS: dict[str, Any] = {}


@dataclass
class GenerateResult:
    """The method's image and the stock pipeline's on the same noise, ``(H, W, 3)`` uint8, with CLIP-T."""

    method_image: np.ndarray
    stock_image: np.ndarray
    method_clip: float
    stock_clip: float
    info: str


def unconditioned_generators() -> list[str]:
    """Registered generators that take only prompts (after loading the plugins)."""
    load_plugins()
    return [n for n in GENERATORS.names() if not GENERATORS.get(n).requires]


def _models(model: str) -> tuple[Any, str, Any]:
    """``(pipeline, its description, (clip, processor, description) | None)`` of a model choice, once."""
    with _LOCK:
        if model not in _MODELS:
            runtime = Runtime(seed=0, deterministic=False)
            pipe, source = build_sd_pipeline(model, runtime)
            clip_choice = "dummy" if model == "dummy" else "auto"
            _MODELS[model] = (pipe, source, build_clip(clip_choice, runtime))
        return _MODELS[model]


def _uint8(image: torch.Tensor) -> np.ndarray:
    return (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def generate(
    method: str,
    model: str = "auto",
    prompt: str = DEFAULT_PROMPT,
    steps: int = WORKBENCH_SAMPLING.num_inference_steps,
    guidance: float = WORKBENCH_SAMPLING.guidance_scale,
    seed: int = 0,
) -> GenerateResult:
    """One image by ``method`` and one by the stock pipeline, same prompt and noise, with their CLIP-T.

    Raises:
        ValueError: an unknown method or model, an empty or over-long prompt, steps or seed out of range.
    """
    from workbench.experiments_builtin.job import clip_scores  # deferred: PIL

    method = limits.choice("generator", method, unconditioned_generators())
    model = limits.choice("model", model, MODEL_CHOICES)
    prompt = limits.text(
        "prompt", prompt, limits.MAX_PROMPT_CHARS, required=f"write a prompt (e.g. {DEFAULT_PROMPT!r})"
    )
    steps = limits.integer("steps", steps, 1, MAX_STEPS)
    guidance = limits.number("guidance", guidance, *GUIDANCE_RANGE)
    seed = limits.seed(seed)
    pipe, source, clip = _models(model)
    images = []
    for name in (method, "stock"):
        request = GenerationRequest(
            [prompt],
            [torch.Generator().manual_seed(int(seed))],
            num_inference_steps=int(steps),
            guidance_scale=float(guidance),
        )
        images.append(build_generator(name, pipe)(request)[0])
    scores = [float("nan"), float("nan")]
    if clip is not None:
        scores = clip_scores(clip[0], clip[1], torch.stack(images), [prompt, prompt]).tolist()
    info = (
        f"model **{source}**, {steps} steps, guidance {guidance}, seed {seed}. "
        f"CLIP-T ({clip[2] if clip else 'none'}): **{method}** {scores[0]:.1f}, stock {scores[1]:.1f}."
    )
    return GenerateResult(_uint8(images[0]), _uint8(images[1]), scores[0], scores[1], info)


@register_demo(
    NAME,
    title="Generate with any method",
    description="Every registered generator that needs only a prompt, beside the stock pipeline on the same noise, with CLIP-T.",
)
def build():
    """The demo's ``gr.Blocks`` (models load on the first run)."""
    import gradio as gr

    methods = unconditioned_generators()

    @limits.demo_handler
    def on_generate(method, model, prompt, steps, guidance, seed):
        r = generate(method, model, prompt, steps, guidance, seed)
        return r.method_image, r.stock_image, r.info

    with gr.Blocks(title="Generate with any method", analytics_enabled=False) as demo:
        gr.Markdown("# Generate with any method\n" + __doc__.split("\n\n")[0])
        with gr.Row():
            method = gr.Dropdown(methods, value=methods[0] if methods else None, label="generator")
            model = gr.Dropdown(list(MODEL_CHOICES), value="auto", label="model")
        prompt = gr.Textbox(label="prompt", value=DEFAULT_PROMPT, max_length=limits.MAX_PROMPT_CHARS)
        with gr.Row():
            steps = gr.Slider(
                1, MAX_STEPS, value=WORKBENCH_SAMPLING.num_inference_steps, step=1, label="steps"
            )
            guidance = gr.Slider(
                *GUIDANCE_RANGE, value=WORKBENCH_SAMPLING.guidance_scale, step=0.5, label="guidance"
            )
            seed = gr.Number(label="seed", value=0, precision=0, minimum=0, maximum=limits.SEED_MAX)
        run = gr.Button("Generate", variant="primary")
        with gr.Row():
            method_image = gr.Image(label="the generator", interactive=False, height=256)
            stock_image = gr.Image(label="stock pipeline, same noise", interactive=False, height=256)
        info = gr.Markdown()
        run.click(
            on_generate, [method, model, prompt, steps, guidance, seed], [method_image, stock_image, info],
            concurrency_id="models",
        )  # fmt: skip
    return demo


if __name__ == "__main__":
    from apps.hub import serve
    from workbench.logging_utils import setup_logging

    setup_logging()
    serve(NAME)
