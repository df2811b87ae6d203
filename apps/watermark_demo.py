"""Watermark robustness demo: upload or generate an image, embed a watermark, attack it at a chosen
strength (visual paraphrase included), and compare the images, the decoded bits before and after,
and the metrics.

Images are worked on at 256 x 256 (invisible-watermark's minimum); generated toy images are
upscaled to it. Tree-Ring and Gaussian Shading embed at generation when a prompt is given and no
image is uploaded, otherwise through DDIM inversion of the uploaded image.

Run it alone with ``python -m apps.watermark_demo`` or through the hub (``workbench demo``). The
handlers are plain functions (:func:`generate_image`, :func:`run_pipeline`), testable without a
browser. ``WORKBENCH_WATERMARK_DEMO_MODEL`` sets the default model (``toy``; ``dummy`` = random weights).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from apps import register_demo

logger = logging.getLogger(__name__)

NAME = "watermarks"
WORK_SIZE = 256
MAX_INPUT_PIXELS = 4096 * 4096
DEFAULT_MODEL = os.environ.get("WORKBENCH_WATERMARK_DEMO_MODEL", "toy")
_LOCK = threading.Lock()
_MODELS: dict[str, Any] = {}


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
    """txt2img + img2img pipelines and captioners of ``name`` (loaded once per process)."""
    with _LOCK:
        if name not in _MODELS:
            from attacks.watermarks.bench.models import load_bench_models
            from workbench.runtime import Runtime

            captioner = "dummy" if name == "dummy" else "toy"
            _MODELS[name] = load_bench_models(
                name, None, None, [captioner], Runtime(seed=0, deterministic=False)
            )
        return _MODELS[name]


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """An uploaded ``(H, W, 3|4)`` uint8 array -> ``(1, 3, 256, 256)`` in [0, 1] (clear errors)."""
    from attacks.image.ops import resize

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
    from attacks.image.ops import to_uint8_hwc

    return to_uint8_hwc(images[0])


def generate_image(prompt: str, model: str = DEFAULT_MODEL, seed: int = 0) -> np.ndarray:
    """An unwatermarked generation of ``prompt`` at 256 x 256 (``(H, W, 3)`` uint8)."""
    from attacks.image.ops import resize
    from attacks.watermarks.bench.sources import generate_clean
    from workbench.runtime import Runtime

    if not prompt.strip():
        raise ValueError("type a prompt to generate an image")
    bench = _models(model)
    images = generate_clean(bench.txt2img, [prompt], Runtime(seed=int(seed), deterministic=False), 25, 5.0, 1)
    return _to_array(resize(images, (WORK_SIZE, WORK_SIZE)))


def run_pipeline(
    image: np.ndarray | None,
    prompt: str = "",
    watermark: str = "dwtDctSvd",
    payload: str = "",
    attack: str = "paraphrase",
    strength: float = 0.4,
    guidance_scale: float = 5.0,
    caption: str = "",
    model: str = DEFAULT_MODEL,
    seed: int = 0,
    steps: int = 25,
) -> DemoResult:
    """Embed ``watermark`` (payload bits or random from ``seed``), attack at ``strength``, decode both.

    Raises:
        ValueError: bad image, payload of the wrong length, strength outside [0, 1], no image and no prompt.
    """
    from attacks.image import IMAGE_ATTACKS, build_attack
    from attacks.image.ops import resize
    from attacks.watermarks import WATERMARKS, bits_to_string, build_watermark
    from metrics.functional import bit_accuracy, peak_signal_noise_ratio, structural_similarity
    from workbench.runtime import Runtime

    if not 0 <= float(strength) <= 1:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    runtime = Runtime(seed=int(seed), deterministic=False)
    bench = _models(model)
    kind = WATERMARKS.get(watermark).kind
    options: dict[str, Any] = {"seed": int(seed), "small_images": "resize"} if kind == "post_hoc" else {
        "seed": int(seed), "num_inference_steps": int(steps), "inversion_steps": int(steps), "guidance_scale": 5.0,
    }  # fmt: skip
    if watermark == "gaussian_shading":
        options["hw_factor"] = 4
    wm = build_watermark(watermark, pipe=bench.txt2img, runtime=runtime, **options)
    if payload.strip():
        wm.set_payload(payload.strip())
    gen = runtime.generator("demo", device="cpu")
    if image is None:
        if not prompt.strip():
            raise ValueError("upload an image or type a prompt")
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
        if caption.strip():
            config["caption"] = caption.strip()
        if not caption.strip() and prompt.strip():
            config["caption"] = prompt.strip()
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

    from attacks.image import IMAGE_ATTACKS
    from attacks.watermarks import WATERMARKS

    def on_generate(prompt, model, seed):
        try:
            return generate_image(prompt, model, int(seed))
        except ValueError as err:
            raise gr.Error(str(err)) from err

    def on_run(image, prompt, watermark, payload, attack, strength, guidance, caption, model, seed, steps):
        try:
            r = run_pipeline(
                image,
                prompt,
                watermark,
                payload,
                attack,
                strength,
                guidance,
                caption,
                model,
                int(seed),
                int(steps),
            )
        except ValueError as err:
            raise gr.Error(str(err)) from err
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
                prompt = gr.Textbox(label="prompt", value="a large red circle on the left")
                generate = gr.Button("Generate image from the prompt")
            with gr.Column():
                watermark = gr.Dropdown(WATERMARKS.names(), value="dwtDctSvd", label="watermark")
                payload = gr.Textbox(label="payload bits (empty: random from the seed)")
                attack = gr.Dropdown(IMAGE_ATTACKS.names(), value="paraphrase", label="attack")
                strength = gr.Slider(0, 1, value=0.4, step=0.05, label="strength")
                guidance = gr.Slider(1, 12, value=5.0, step=0.5, label="paraphrase guidance")
                caption = gr.Textbox(label="paraphrase caption (empty: the captioner's, or the prompt)")
                with gr.Row():
                    model = gr.Textbox(label="model", value=DEFAULT_MODEL)
                    seed = gr.Number(label="seed", value=0, precision=0)
                    steps = gr.Number(label="diffusion steps", value=25, precision=0)
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
        generate.click(on_generate, [prompt, model, seed], image, concurrency_id="models")
        run.click(
            on_run,
            [image, prompt, watermark, payload, attack, strength, guidance, caption, model, seed, steps],
            [original, marked, attacked, payload_out, before, after, table, used_caption],
            concurrency_id="models",
        )
    return demo


if __name__ == "__main__":
    from apps.hub import serve
    from workbench.logging_utils import setup_logging

    setup_logging()
    serve(NAME)
