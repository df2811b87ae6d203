"""Retrieval-augmented generation demo: type a prompt, see the neighbours retrieved from the knowledge base
and the images generated without and with them.

The knowledge base is the toy entity catalogue (built on first use under the demo's folder, resumable),
embedded with the demo's CLIP; prompts that name an entity (``"a zorvik emblem on the left"``) retrieve its
views. Models are the trained toy ones when present, else random-weight components (the page says which).

Run it alone with ``python -m apps.retrieval_demo`` or through the hub (``workbench demo``). The handler
:func:`generate` is a plain function, testable without a browser.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import torch

from apps import demo_output_dir, register_demo

logger = logging.getLogger(__name__)

NAME = "retrieval"
EXAMPLES = [
    "a zorvik emblem on the left",
    "a quaddle emblem in the center and a small red circle at the top",
    "a xandro emblem on the right",
]
MAX_STEPS = 100
MAX_K = 8
_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()


def load_models(sd: str = "auto", clip: str = "auto", views_per_entity: int = 4) -> dict[str, Any]:
    """The demo's pipeline, knowledge base and model descriptions (loaded once per (sd, clip))."""
    key = f"{sd}|{clip}|{views_per_entity}"
    with _LOCK:
        if key in _MODELS:
            return _MODELS[key]
        from generators.retrieval import (
            ClipEmbedder,
            KnowledgeBase,
            RetrievalAugmentedPipeline,
            ToyEntitySource,
        )
        from workbench.loading.choice import build_clip, build_sd_pipeline
        from workbench.runtime import Runtime

        rt = Runtime(seed=0)
        pipe, sd_source = build_sd_pipeline(sd, rt)
        pipe = RetrievalAugmentedPipeline.from_pipe(pipe)
        pipe.set_progress_bar_config(disable=True)
        model, processor, clip_source = build_clip(clip, rt)
        embedder = ClipEmbedder(model, processor, name=clip_source)
        folder = demo_output_dir(NAME) / f"kb-{embedder.fingerprint[:12]}"
        kb = KnowledgeBase.build(folder, ToyEntitySource(views_per_entity), embedder)
        _MODELS[key] = {
            "pipe": pipe,
            "kb": kb,
            "runtime": rt,
            "sources": {"sd": sd_source, "clip": clip_source},
        }
        return _MODELS[key]


def generate(
    prompt: str,
    k: int = 4,
    mode: str = "reference",
    scheme: str = "interleaved",
    ratio: float = 0.5,
    guidance_scale: float = 5.0,
    steps: int = 25,
    seed: int = 0,
    models: dict[str, Any] | None = None,
) -> tuple[list[tuple[Any, str]], Any, Any, str]:
    """Retrieve ``k`` neighbours of ``prompt`` and generate without and with them (same initial noise).

    Returns:
        ``(neighbours, image_without, image_with, info)``: a gallery of (PIL image, caption), two PIL images
        and a Markdown line naming the models and settings.

    Raises:
        ValueError: an empty prompt or settings out of range (shown in the page).
    """
    from generators.retrieval import GuidanceConfig, retrieve
    from generators.retrieval.boxes import prompt_box
    from workbench.io import to_pil

    prompt = (prompt or "").strip()
    if not prompt:
        raise ValueError("write a prompt, e.g. 'a zorvik emblem on the left'")
    if not 1 <= int(k) <= MAX_K or not 1 <= int(steps) <= MAX_STEPS:
        raise ValueError(f"k must be 1..{MAX_K} and steps 1..{MAX_STEPS}")
    models = models or load_models()
    pipe, kb, rt = models["pipe"], models["kb"], models["runtime"]
    neighbours = retrieve(kb, [prompt], k=int(k), target="text")[0]
    guidance = GuidanceConfig(scheme=scheme, ratio=float(ratio), guidance_scale=float(guidance_scale))
    extra: dict[str, Any] = {}
    if mode == "blend":  # the top neighbour's subject in the box the prompt names (single guidance)
        guidance = GuidanceConfig(scheme="single", guidance_scale=float(guidance_scale))
        entity = neighbours.meta[0].get("entity") if neighbours.meta else None
        extra["target_boxes"] = [prompt_box(prompt, entity) if entity else None]
    common = {"num_inference_steps": int(steps), "output_type": "pt"}
    without = pipe(
        prompt, guidance_scale=float(guidance_scale), generator=rt.generator("demo", seed), **common
    ).images[0]
    with_ret = pipe(
        prompt,
        neighbours=neighbours,
        mode=mode,
        guidance=guidance,
        generator=rt.generator("demo", seed),
        **extra,
        **common,
    ).images[0]
    gallery = [
        (to_pil(im), f"{s:+.3f}  {t}")
        for im, s, t in zip(neighbours.images, neighbours.scores.tolist(), neighbours.texts)
    ]
    src = models["sources"]
    info = f"generator **{src['sd']}**, CLIP **{src['clip']}**, {len(kb)} entries; {guidance.label()}, {int(steps)} steps, seed {int(seed)}"
    return gallery, to_pil(without.float().clamp(0, 1)), to_pil(with_ret.float().clamp(0, 1)), info


def _generate_ui(prompt, k, mode, scheme, ratio, guidance_scale, steps, seed):
    import gradio as gr

    try:
        with torch.no_grad():
            return generate(prompt, k, mode, scheme, ratio, guidance_scale, steps, seed)
    except ValueError as exc:
        raise gr.Error(str(exc)) from exc


@register_demo(
    NAME,
    title="Retrieval-augmented generation (Re-Imagen)",
    description="Retrieve (image, text) neighbours of a prompt from a knowledge base and generate with them.",
)
def build():
    """The demo's ``gr.Blocks`` (models load on the first run)."""
    import gradio as gr

    with gr.Blocks(title="Retrieval-augmented generation", analytics_enabled=False) as demo:
        gr.Markdown(
            "# Retrieval-augmented generation\nThe prompt retrieves its nearest (image, text) pairs from the toy "
            "entity catalogue; the generator then runs without them and with them as references."
        )
        with gr.Row():
            prompt = gr.Textbox(label="Prompt", value=EXAMPLES[0], scale=3)
            run = gr.Button("Generate", variant="primary", scale=1)
        with gr.Row():
            k = gr.Slider(1, MAX_K, value=4, step=1, label="neighbours k")
            mode = gr.Dropdown(["reference", "conditioned", "blend"], value="reference", label="conditioning")
            scheme = gr.Dropdown(["single", "interleaved"], value="interleaved", label="guidance")
            ratio = gr.Slider(0, 1, value=0.5, step=0.05, label="interleaving ratio (text-enhanced steps)")
        with gr.Row():
            guidance_scale = gr.Slider(1, 15, value=5, step=0.5, label="guidance scale")
            steps = gr.Slider(1, MAX_STEPS, value=25, step=1, label="steps")
            seed = gr.Number(value=0, precision=0, label="seed")
        gallery = gr.Gallery(label="retrieved neighbours", columns=MAX_K, height=180)
        with gr.Row():
            without = gr.Image(label="without retrieval", type="pil")
            with_ret = gr.Image(label="with retrieval", type="pil")
        info = gr.Markdown()
        gr.Examples(EXAMPLES, inputs=[prompt])
        run.click(
            _generate_ui,
            [prompt, k, mode, scheme, ratio, guidance_scale, steps, seed],
            [gallery, without, with_ret, info],
            concurrency_id="models",
        )
    return demo


if __name__ == "__main__":
    from apps.hub import serve
    from workbench.logging_utils import setup_logging

    setup_logging()
    serve(NAME)
