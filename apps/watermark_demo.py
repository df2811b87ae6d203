"""Watermark robustness demo: upload or generate an image, embed a watermark, attack it at a chosen
strength (visual paraphrase included), and compare the images, the decoded bits before and after,
and the metrics.

Images are worked on at 256 x 256 (invisible-watermark's minimum); generated toy images are
upscaled to it. Tree-Ring and Gaussian Shading embed at generation when a prompt is given and no
image is uploaded, otherwise through DDIM inversion of the uploaded image.

Run it alone with ``python -m apps.watermark_demo`` or through the hub (``workbench demo``). The
handlers are plain functions (:func:`generate_image`, :func:`run_pipeline`), testable without a
browser. ``WORKBENCH_WATERMARK_DEMO_MODEL`` sets the default model (``toy``; ``dummy`` = random weights);
the model box takes ``dummy``, the presets with an SD model, or a folder under the demos' models root
(:mod:`apps.models`). Every input is bounded (:data:`MAX_STEPS`, ...) in the page and in the handlers.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from apps import limits, register_demo
from apps.cache import LRUCache, cached_models
from apps.models import resolve_demo_model
from workbench.runtime import Runtime
from workbench.sampling import WORKBENCH_SAMPLING

logger = logging.getLogger(__name__)

NAME = "watermarks"
WORK_SIZE = 256
MAX_INPUT_PIXELS = 4096 * 4096
DEFAULT_MODEL = os.environ.get("WORKBENCH_WATERMARK_DEMO_MODEL", "toy")
MAX_STEPS = 100  # DDIM steps of embedding, inversion and the diffusion attacks
GUIDANCE_RANGE = (1.0, 12.0)
MAX_PAYLOAD_CHARS = 256
_MODELS: LRUCache[str, Any] = LRUCache(cached_models, "watermark demo models")


@dataclass
class DemoResult:
    """What one run shows: images ``(H, W, 3)`` uint8, bit strings and a metrics table."""

    original: np.ndarray
    watermarked: np.ndarray
    attacked: np.ndarray
    bits_before: str
    bits_after: str
    payload: str
    metrics: dict[str, Any]
    caption: str


def _models(name: str):
    """txt2img + img2img pipelines and captioners of ``name`` (a resolved model: see :func:`_model`),
    kept in a bounded LRU cache."""

    def load():
        from attacks.watermarks.bench import models  # deferred: PIL

        captioner = "dummy" if name == "dummy" else "toy"
        return models.load_bench_models(name, None, None, [captioner], Runtime(seed=0, deterministic=False))

    return _MODELS.get_or_create(name, load)


def _model(typed: str) -> str:
    """The model box's text, resolved (``dummy``, an SD preset, or a folder under the models root)."""
    return resolve_demo_model(typed, kind="sd", names=("dummy",))


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """An uploaded ``(H, W, 3|4)`` uint8 array -> ``(1, 3, 256, 256)`` in [0, 1] (clear errors)."""
    from attacks.image.ops import resize  # deferred: PIL

    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an RGB image, got an array of shape {array.shape}")
    if array.shape[2] == 4:
        raise ValueError(
            "the image has an alpha channel; upload an RGB image (flatten the transparency first)"
        )
    if array.shape[0] * array.shape[1] > MAX_INPUT_PIXELS:
        raise ValueError(
            f"the image has {array.shape[0]} x {array.shape[1]} pixels; the demo accepts up to 4096 x 4096"
        )
    if array.dtype == np.uint16:
        raise ValueError("16-bit images are not supported; upload an 8-bit image")
    if array.dtype != np.uint8:
        array = (np.clip(array.astype(np.float32), 0, 1) * 255).round().astype(np.uint8)
    if min(array.shape[:2]) < 16:
        raise ValueError(
            f"the image is too small ({array.shape[1]} x {array.shape[0]}); use at least 16 x 16"
        )
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1).float()[None] / 255
    return resize(tensor, (WORK_SIZE, WORK_SIZE))


def _to_array(images: torch.Tensor) -> np.ndarray:
    from attacks.image.ops import to_uint8_hwc  # deferred: PIL

    return to_uint8_hwc(images[0])


def _strength(value: Any) -> float:
    """The attack strength in (0, 1]: strength 0 attacks nothing, so it is refused, not reported."""
    strength = limits.number("strength", value, 0.0, 1.0)
    if strength == 0:
        raise limits.InputError("strength 0 leaves the image unattacked; choose a strength in (0, 1]")
    return strength


def generate_image(prompt: str, model: str = DEFAULT_MODEL, seed: int = 0) -> np.ndarray:
    """An unwatermarked generation of ``prompt`` at 256 x 256 (``(H, W, 3)`` uint8)."""
    from attacks.image.ops import resize  # deferred: PIL
    from attacks.watermarks.bench.sources import generate_clean  # deferred: PIL

    prompt = limits.text(
        "prompt", prompt, limits.MAX_PROMPT_CHARS, required="type a prompt to generate an image"
    )
    seed = limits.seed(seed)
    bench = _models(_model(model))
    images = generate_clean(bench.txt2img, [prompt], Runtime(seed=int(seed), deterministic=False), 25, 5.0, 1)
    return _to_array(resize(images, (WORK_SIZE, WORK_SIZE)))


def run_pipeline(
    image: np.ndarray | None,
    prompt: str = "",
    watermark: str = "dwtDctSvd",
    payload: str = "",
    attack: str = "paraphrase",
    strength: float = 0.4,
    guidance_scale: float = WORKBENCH_SAMPLING.guidance_scale,
    caption: str = "",
    model: str = DEFAULT_MODEL,
    seed: int = 0,
    steps: int = WORKBENCH_SAMPLING.num_inference_steps,
) -> DemoResult:
    """Embed ``watermark`` (payload bits or random from ``seed``), attack at ``strength``, decode both.

    Raises:
        ValueError: bad image, payload of the wrong length, strength outside (0, 1] (0 would attack
            nothing), steps outside 1..100, a diffusion attack with no denoising step, no image and no
            prompt, text too long, an unknown watermark, attack or model.
    """
    from attacks.image import IMAGE_ATTACKS, build_attack  # deferred: PIL
    from attacks.image.ops import resize  # deferred: PIL
    from attacks.watermarks import WATERMARKS, bits_to_string, build_watermark  # deferred: PIL

    # deferred: scipy
    from metrics.functional import bit_accuracy, peak_signal_noise_ratio, structural_similarity

    prompt = limits.text("prompt", prompt, limits.MAX_PROMPT_CHARS)
    watermark = limits.choice("watermark", watermark, WATERMARKS.names())
    payload = limits.text("payload", payload, MAX_PAYLOAD_CHARS)
    attack = limits.choice("attack", attack, IMAGE_ATTACKS.names())
    strength = _strength(strength)
    guidance_scale = limits.number("paraphrase guidance", guidance_scale, *GUIDANCE_RANGE)
    caption = limits.text("caption", caption, limits.MAX_CAPTION_CHARS)
    model = _model(model)
    seed = limits.seed(seed)
    steps = limits.integer("steps", steps, 1, MAX_STEPS)
    if attack in ("paraphrase", "diffusion_regen") and int(steps * strength) < 1:
        raise limits.InputError(
            f"strength {strength:g} x {steps} steps runs no denoising step; raise the strength or the steps"
        )
    if image is None and not prompt:
        raise ValueError("upload an image or type a prompt")
    runtime = Runtime(seed=int(seed), deterministic=False)
    bench = _models(model)
    kind = WATERMARKS.get(watermark).kind
    options: dict[str, Any] = {"seed": int(seed), "small_images": "resize"} if kind == "post_hoc" else {
        "seed": int(seed), "num_inference_steps": int(steps), "inversion_steps": int(steps), "guidance_scale": WORKBENCH_SAMPLING.guidance_scale,
    }  # fmt: skip
    if watermark == "gaussian_shading":
        options["hw_factor"] = 4
    wm = build_watermark(watermark, pipe=bench.txt2img, runtime=runtime, **options)
    if payload:
        wm.set_payload(payload)
    gen = runtime.generator("demo", device="cpu")
    if image is None:
        if kind == "generation":
            marked = resize(wm.generate(prompts=[prompt], generator=[gen]), (WORK_SIZE, WORK_SIZE))
            original = marked  # generated with the key: there is no unwatermarked twin
        else:
            original = (
                torch.from_numpy(generate_image(prompt, model, seed)).permute(2, 0, 1).float()[None] / 255
            )
            marked = wm.embed(original)
    else:
        original = _to_tensor(image)
        marked = wm.embed(original)
    config: dict[str, Any] = {"strength": float(strength)}
    if attack in ("paraphrase", "diffusion_regen"):
        config["num_inference_steps"] = int(steps)
    if attack == "paraphrase":
        config["guidance_scale"] = float(guidance_scale)
        config["captioner"] = "dummy" if model == "dummy" else "toy"
        if caption or prompt:
            config["caption"] = caption or prompt
    if "model" in IMAGE_ATTACKS.get(attack).config_class.model_fields:
        config["model"] = model
    attacker = build_attack(attack, models=bench.attack_models(model, runtime), **config)
    attacked = attacker(marked, [runtime.generator("attack", device="cpu")])
    bits_before, score_before = wm.analyse(marked)
    bits_after, score_after = wm.analyse(attacked)
    metrics: dict[str, Any] = {
        "score before attack": float(score_before[0]),
        "score after attack": float(score_after[0]),
        "PSNR watermarked vs original (dB)": float(
            peak_signal_noise_ratio(marked, original, data_range=1.0)[0]
        ),
        "PSNR attacked vs watermarked (dB)": float(
            peak_signal_noise_ratio(attacked, marked, data_range=1.0)[0]
        ),
        "SSIM attacked vs watermarked": float(structural_similarity(attacked, marked, data_range=1.0)[0]),
        "attack parameters": attacker.parameters(),
    }
    if wm.num_bits:
        metrics["bit accuracy before attack"] = float(bit_accuracy(bits_before, wm.payload)[0])
        metrics["bit accuracy after attack"] = float(bit_accuracy(bits_after, wm.payload)[0])
    return DemoResult(
        original=_to_array(original),
        watermarked=_to_array(marked),
        attacked=_to_array(attacked),
        bits_before=bits_to_string(bits_before[0]) if wm.num_bits else "(zero-bit watermark: see the score)",
        bits_after=bits_to_string(bits_after[0]) if wm.num_bits else "(zero-bit watermark: see the score)",
        payload=bits_to_string(wm.payload) if wm.num_bits else "",
        metrics=metrics,
        caption=" | ".join(getattr(attacker, "last_captions", [])),
    )


@register_demo(
    NAME,
    title="Watermark robustness",
    description="Embed a watermark, attack it (visual paraphrase, JPEG, ...), decode.",
)
def build():
    """The demo's ``gr.Blocks`` (models load on the first run)."""
    import gradio as gr

    from attacks.image import IMAGE_ATTACKS  # deferred: PIL
    from attacks.watermarks import WATERMARKS  # deferred: PIL

    @limits.demo_handler
    def on_generate(prompt, model, seed):
        return generate_image(prompt, model, seed)

    @limits.demo_handler
    def on_run(image, prompt, watermark, payload, attack, strength, guidance, caption, model, seed, steps):
        r = run_pipeline(
            image, prompt, watermark, payload, attack, strength, guidance, caption, model, seed, steps
        )
        rows = [[k, str(v) if isinstance(v, dict) else round(v, 4)] for k, v in r.metrics.items()]
        return r.original, r.watermarked, r.attacked, r.payload, r.bits_before, r.bits_after, rows, r.caption

    with gr.Blocks(title="Watermark robustness", analytics_enabled=False) as demo:
        gr.Markdown(
            "# Watermark robustness\nUpload an image (or generate one from a prompt), pick a watermark and an "
            "attack, and compare. Images are worked on at 256 x 256. Visual paraphrase captions the watermarked "
            "image and regenerates it with caption-guided image-to-image diffusion."
        )
        with gr.Row():
            with gr.Column():
                image = gr.Image(
                    label="image (upload, or leave empty and give a prompt)", type="numpy", image_mode="RGB"
                )
                prompt = gr.Textbox(
                    label="prompt", value="a large red circle on the left", max_length=limits.MAX_PROMPT_CHARS
                )
                generate = gr.Button("Generate image from the prompt")
            with gr.Column():
                watermark = gr.Dropdown(WATERMARKS.names(), value="dwtDctSvd", label="watermark")
                payload = gr.Textbox(
                    label="payload bits (empty: random from the seed)", max_length=MAX_PAYLOAD_CHARS
                )
                attack = gr.Dropdown(IMAGE_ATTACKS.names(), value="paraphrase", label="attack")
                strength = gr.Slider(0.05, 1, value=0.4, step=0.05, label="strength")
                guidance = gr.Slider(
                    *GUIDANCE_RANGE,
                    value=WORKBENCH_SAMPLING.guidance_scale,
                    step=0.5,
                    label="paraphrase guidance",
                )
                caption = gr.Textbox(
                    label="paraphrase caption (empty: the captioner's, or the prompt)",
                    max_length=limits.MAX_CAPTION_CHARS,
                )
                with gr.Row():
                    model = gr.Textbox(label="model", value=DEFAULT_MODEL, max_length=limits.MAX_MODEL_CHARS)
                    seed = gr.Number(label="seed", value=0, precision=0, minimum=0, maximum=limits.SEED_MAX)
                    steps = gr.Number(
                        label="diffusion steps",
                        value=WORKBENCH_SAMPLING.num_inference_steps,
                        precision=0,
                        minimum=1,
                        maximum=MAX_STEPS,
                    )
                run = gr.Button("Embed, attack, decode", variant="primary")
        with gr.Row():
            original = gr.Image(label="original", interactive=False)
            marked = gr.Image(label="watermarked", interactive=False)
            attacked = gr.Image(label="attacked", interactive=False)
        with gr.Row():
            payload_out = gr.Textbox(label="embedded payload")
            before = gr.Textbox(label="decoded before the attack")
            after = gr.Textbox(label="decoded after the attack")
        used_caption = gr.Textbox(label="caption used by the paraphrase")
        table = gr.Dataframe(headers=["metric", "value"], label="metrics")
        generate.click(
            on_generate, [prompt, model, seed], image, concurrency_id="models", api_name="generate"
        )
        run.click(
            on_run,
            [image, prompt, watermark, payload, attack, strength, guidance, caption, model, seed, steps],
            [original, marked, attacked, payload_out, before, after, table, used_caption],
            concurrency_id="models",
            api_name="run",
        )
    return demo


if __name__ == "__main__":
    from apps.hub import serve
    from workbench.logging_utils import setup_logging

    setup_logging()
    serve(NAME)
