"""Multi-concept composition demo (FreeCustom): upload (or pick) one reference image per concept, draw
its mask on it (or fill it automatically), write the target prompt, and see the composed images beside
the text-only and collage-img2img baselines.

Run it alone with ``python -m apps.multiconcept_demo`` or through the hub (``workbench demo``). The
handlers (:func:`compose`, :func:`pick_toy_concept`, :func:`auto_mask`) are plain functions, testable
without a browser. ``WORKBENCH_MULTICONCEPT_DEMO_MODEL`` sets the default model (``auto``: the cross-image toy SD
``toy-ref`` when shipped, else the toy SD, else random weights; ``toy``; ``dummy``; ``sd15`` on a GPU; or a
folder under the demos' models root, see :mod:`apps.models`). Every input is bounded in the page and in
the handlers.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from apps import limits, register_demo
from apps.cache import LRUCache, cached_models
from apps.models import resolve_demo_model, shown_model
from generators.multiconcept.config import MultiConceptConfig, ScoreSection
from generators.multiconcept.evaluate import judge_composition
from generators.multiconcept.toy_concepts import Composition, ToyConcept
from workbench.loading import resolve_model
from workbench.loading.choice import build_sd_pipeline, resolve_choice
from workbench.runtime import Runtime
from workbench.sampling import WORKBENCH_SAMPLING

logger = logging.getLogger(__name__)

NAME = "multiconcept"
SLOTS = 3
MAX_STEPS = 100
MAX_IMAGES = 4
MAX_INPUT_PIXELS = 2048 * 2048
MAX_CONCEPT_CHARS = 200
GUIDANCE_RANGE = (1.0, 15.0)
MASK_WEIGHT_RANGE = (0.0, 10.0)
STYLE_FIDELITY_RANGE = (0.0, 1.0)
DEFAULT_MODEL = os.environ.get("WORKBENCH_MULTICONCEPT_DEMO_MODEL", "auto")
MASK_RGBA = (255, 0, 0, 140)  # how a filled mask is shown on the editor's layer
_PIPES: LRUCache[str, tuple[Any, str]] = LRUCache(cached_models, "multiconcept demo pipelines")
_JUDGE: LRUCache[str, Any] = LRUCache(1, "multiconcept demo judge")


@dataclass
class ComposeResult:
    """What one run shows: images `(H, W, 3)` uint8 per method, the collage and a summary."""

    freecustom: list[np.ndarray]
    text: list[np.ndarray]
    collage_images: list[np.ndarray]
    collage: np.ndarray | None
    info: str


def toy_concepts() -> dict[str, Any]:
    """A few toy-world concepts to pick from: ``{concept prompt: ToyConcept}``."""
    items = [
        ToyConcept("circle", "red"),
        ToyConcept("star", "blue"),
        ToyConcept("square", "yellow", "striped"),
        ToyConcept("triangle", "green", "dotted"),
        ToyConcept("cross", "purple"),
        ToyConcept("diamond", "orange", "striped"),
        ToyConcept.from_entity("zorvik"),
        ToyConcept.from_entity("plimble"),
    ]
    return {c.prompt: c for c in items}


DEFAULT_PICKS = ("a large red circle", "a large blue star")
CELLS = {1: (4,), 2: (3, 5), 3: (3, 4, 5)}  # grid cells (3 x 3, row-major): centre; left, right; ...
CLAIM = (
    "Measured with class-worded prompts on toy-ref (`workbench run examples/multiconcept_toy.yaml --set "
    "benchmark.concept_words=class`, 96 images): FreeCustom finds both concepts in 64 % of images on run seed 0 (46 % on seed 1), text only in 0 %."
)


def toy_composition(picks: list[str]) -> Any:
    """The toy composition of picked concepts (named by class words, placed left to right): its
    ``prompt`` is the target prompt and the judge checks each concept at its place."""
    from dataclasses import replace

    concepts = toy_concepts()
    chosen = tuple(
        replace(concepts[limits.choice("toy concept", p, list(concepts))], words="class") for p in picks
    )
    return Composition(chosen, CELLS[len(chosen)])


def judge_found(images: torch.Tensor, composition: Any) -> list[bool] | None:
    """Whether the toy judge finds every concept of ``composition`` in each image ``(N, 3, H, W)`` (with the
    benchmark's attributes), ``None`` when the judge is not shipped here."""
    judge = _judge()
    if judge is None:
        return None
    attributes = ScoreSection().judge_attributes
    return [
        all(j.found for j in judge_composition(dets, composition, attributes))
        for dets in judge.detect(images.float().clamp(0, 1))
    ]


def default_model_choice(model: str) -> str:
    """``auto`` -> ``toy-ref`` (the toy SD whose decoder attention carries appearance across images) when it
    is here, else what ``auto`` means elsewhere (the toy SD, or random weights); other choices unchanged."""
    if model != "auto":
        return model

    return "toy-ref" if resolve_model("toy-ref", kind="sd").available else model


def resolve_model_box(typed: str) -> str:
    """The model box's text resolved to what is loaded (``auto`` as :func:`default_model_choice` says; a
    folder, under the models root only, as its resolved path; a preset with an SD model as it is)."""
    model = default_model_choice(resolve_demo_model(typed, kind="sd", names=("auto", "dummy")))
    return resolve_choice(model, "sd")


def _pipeline(model: str) -> tuple[Any, str]:
    """The DDIM SD pipeline of ``model`` (bounded LRU cache keyed by the resolved model)."""
    key = resolve_model_box(model)

    def load() -> tuple[Any, str]:
        from diffusers import DDIMScheduler

        pipe, source = build_sd_pipeline(key, Runtime(seed=0, deterministic=False))
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
        return pipe, source

    return _PIPES.get_or_create(key, load)


def _judge() -> Any | None:
    def load() -> Any | None:
        resolved = resolve_model("toy", kind="judge")
        if not resolved.available:
            return None
        from toyworld.judge import ShapesJudge  # deferred: diffusers

        return ShapesJudge.from_pretrained(str(resolved.local_path)).eval()

    return _JUDGE.get_or_create("toy", load)


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)


def _rgb(array: Any) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected an RGB image, got an array of shape {a.shape}")
    if a.shape[0] * a.shape[1] > MAX_INPUT_PIXELS:
        raise ValueError(
            f"the image has {a.shape[0]} x {a.shape[1]} pixels; the demo accepts up to 2048 x 2048"
        )
    if a.dtype != np.uint8:
        a = (np.clip(a.astype(np.float32), 0, 1) * 255).round().astype(np.uint8)
    return a


def editor_to_image_mask(value: Any) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """An image-editor value -> ``(image (3, H, W) in [0, 1], mask (H, W) bool or None)``; ``None`` if empty.

    The editor's background is the reference; every painted pixel of its layers is the mask (nothing
    painted: no mask, the whole image is the concept). A plain `(H, W, 3)` array is an image without mask.
    """
    if value is None:
        return None
    if isinstance(value, dict):
        background = value.get("background")
        if background is None:
            background = value.get("composite")
        if background is None:
            return None
        rgb = _rgb(background)
        if rgb.shape[2] == 4:  # transparent pixels on white
            alpha = rgb[..., 3:4].astype(np.float32) / 255
            rgb = (rgb[..., :3] * alpha + 255 * (1 - alpha)).round().astype(np.uint8)
        mask = np.zeros(rgb.shape[:2], dtype=bool)
        for layer in value.get("layers") or []:
            layer = np.asarray(layer)
            if layer.ndim == 3 and layer.shape[:2] == mask.shape:
                mask |= (layer[..., 3] > 0) if layer.shape[2] == 4 else (layer.max(axis=2) > 0)
        image = torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255
        return image, (torch.from_numpy(mask) if mask.any() else None)
    rgb = _rgb(value)[..., :3]
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255, None


def _editor_value(image: torch.Tensor, mask: torch.Tensor | None) -> dict[str, Any]:
    rgb = _to_uint8(image)
    layer = np.zeros((*rgb.shape[:2], 4), dtype=np.uint8)
    if mask is not None:
        layer[mask.numpy()] = MASK_RGBA
    return {"background": rgb, "layers": [layer], "composite": None}


def pick_toy_concept(name: str, size: int = 256) -> tuple[dict[str, Any], str]:
    """A toy concept's reference (rendered at ``size``) with its exact mask, as an editor value, and its
    concept prompt in class words (``"a large circle"``: colour, texture and design are in the reference
    alone, as in FreeCustom's prompts)."""
    composition = toy_composition([name])
    image, mask = toy_concepts()[name].render(size)
    return _editor_value(image, mask), composition.concepts[0].prompt


def target_prompt(picks: list[str | None]) -> str:
    """The target prompt of the picked concepts, left to right, in class words."""
    chosen = [p for p in picks if p]
    return toy_composition(chosen).prompt if chosen else ""


def auto_mask(value: Any, prompt: str = "") -> dict[str, Any]:
    """Fill the mask of an editor value: the toy judge's detection cut to the foreground when the toy judge
    is trained, else the pixels that differ from the border colour."""
    from generators.multiconcept.masks import foreground_mask, judge_mask  # deferred: PIL

    prompt = limits.text("concept prompt", prompt, MAX_CONCEPT_CHARS)
    parsed = editor_to_image_mask(value)
    if parsed is None:
        raise ValueError("upload or pick a reference image first")
    image = parsed[0]
    judge = _judge()
    mask = judge_mask(image, judge, prompt or None) if judge is not None else foreground_mask(image)
    if not mask.any():
        raise ValueError("no foreground found automatically; draw the mask with the brush")
    return _editor_value(image, mask)


def compose(
    model: str,
    prompt: str,
    slots: list[tuple[Any, str]],
    steps: int = WORKBENCH_SAMPLING.num_inference_steps,
    guidance: float = WORKBENCH_SAMPLING.guidance_scale,
    mask_weight: float = 3.0,
    style_fidelity: float = 1.0,
    n_images: int = 1,
    seed: int = 0,
    baselines: bool = True,
    picks: list[str | None] | None = None,
) -> ComposeResult:
    """Generate with FreeCustom (and the baselines) from the filled concept slots.

    Args:
        model: ``auto``, ``dummy``, ``toy``, ``toy-ref``, ``sd15``, a hub id or a folder.
        prompt: the target prompt.
        slots: ``(editor value, concept prompt)`` per slot; empty slots are skipped.
        picks: the toy concept picked in each slot (``None`` where the image was uploaded); when every
            filled slot holds a picked concept, the toy judge says in which images both are found.

    Raises:
        ValueError (and ``ConceptError``): no prompt, no concept, a concept without prompt, bad settings.
    """
    from generators.multiconcept import Concept  # deferred: PIL
    from generators.multiconcept.collage import make_collage  # deferred: PIL
    from generators.multiconcept.concept import prepare_concepts  # deferred: PIL
    from generators.multiconcept.methods import MethodCall, build_methods  # deferred: PIL, diffusers

    prompt = limits.text(
        "target prompt",
        prompt,
        limits.MAX_PROMPT_CHARS,
        required="write the target prompt (e.g. 'a large red circle on the left and a large blue star on the right')",
    )
    steps = limits.integer("steps", steps, 1, MAX_STEPS)
    guidance = limits.number("guidance", guidance, *GUIDANCE_RANGE)
    mask_weight = limits.number("mask weight", mask_weight, *MASK_WEIGHT_RANGE)
    style_fidelity = limits.number("style fidelity", style_fidelity, *STYLE_FIDELITY_RANGE)
    n_images = limits.integer("images", n_images, 1, MAX_IMAGES)
    seed = limits.seed(seed)
    model = resolve_model_box(model)  # refused before the slots are read
    if len(slots) > SLOTS:
        raise limits.InputError(f"{len(slots)} concept slots; the demo takes at most {SLOTS}")
    concepts, picked = [], []
    picks = list(picks or [None] * len(slots)) + [None] * len(slots)
    for k, (value, concept_prompt) in enumerate(slots):
        concept_prompt = limits.text(f"concept {k + 1} prompt", concept_prompt, MAX_CONCEPT_CHARS)
        parsed = editor_to_image_mask(value)
        if parsed is None:
            continue
        if not concept_prompt:
            raise ValueError(f"concept {k + 1} has a reference image but no concept prompt")
        concepts.append(Concept(parsed[0], concept_prompt, parsed[1]))
        picked.append(picks[k])
    if not concepts:
        raise ValueError("give at least one concept: a reference image (upload or pick one) and its prompt")
    pipe, source = _pipeline(model)
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    cfg = MultiConceptConfig(
        generation={"num_inference_steps": int(steps), "guidance_scale": float(guidance)},
        freecustom={"mask_weight": float(mask_weight), "style_fidelity": float(style_fidelity)},
        baselines={"methods": ["freecustom", "text", "collage"] if baselines else ["freecustom"]},
    )
    call = MethodCall(prompt.strip(), concepts, None, [], int(seed))
    out: dict[str, list[np.ndarray]] = {}
    composition = toy_composition(picked) if all(picked) and len(picked) in CELLS else None
    verdicts: dict[str, list[bool] | None] = {}
    with torch.no_grad():
        for name, method in build_methods(pipe, cfg, size).items():
            call.generators = [
                torch.Generator().manual_seed(int(seed) * 1000 + i) for i in range(int(n_images))
            ]
            images = method(call)
            out[name] = [_to_uint8(img) for img in images]
            verdicts[name] = judge_found(images, composition) if composition is not None else None
    collage = None
    if baselines:
        prepared = prepare_concepts(concepts, size, size)
        resized = [Concept(i, p, m) for i, p, m in zip(prepared.images, prepared.prompts, prepared.masks)]
        collage = _to_uint8(make_collage(resized, size, size))
    found = [f"{name} {sum(v)}/{len(v)}" for name, v in verdicts.items() if v is not None]
    verdict = (
        f"Judge: every concept found (at its place or not) in {', '.join(found)} images. {CLAIM}\n\n"
        if found
        else ""
    )
    info = verdict + (
        f"model **{shown_model(source)}**, {len(concepts)} concept(s): "
        + ", ".join(f"`{c.prompt}`" for c in concepts)
        + f"; target `{prompt}`; {steps} DDIM steps, guidance {guidance}, mask weight {mask_weight}, style fidelity {style_fidelity}."
    )
    return ComposeResult(
        out.get("freecustom", []), out.get("text", []), out.get("collage", []), collage, info
    )


@register_demo(
    NAME,
    title="Multi-concept composition (FreeCustom)",
    description="Compose concepts from one reference image each; compare with text-only and collage img2img.",
)
def build():
    """The demo's ``gr.Blocks`` (models load on the first run)."""
    import gradio as gr

    picks = list(toy_concepts())

    @limits.demo_handler
    def on_pick(k, *picked):
        """Slot ``k``'s editor and concept prompt, and the target prompt of every slot's pick."""
        editor_value, concept = pick_toy_concept(picked[k])
        return editor_value, concept, target_prompt(list(picked))

    @limits.demo_handler
    def on_auto(value, concept_prompt):
        return auto_mask(value, concept_prompt)

    @limits.demo_handler
    def on_compose(
        model, prompt, steps, guidance, mask_weight, style_fidelity, n, seed, baselines, *slot_values
    ):
        if len(slot_values) != 3 * SLOTS:
            raise limits.InputError(f"expected {SLOTS} concept slots (image, prompt and pick each)")
        slots = [(slot_values[2 * k], slot_values[2 * k + 1]) for k in range(SLOTS)]
        picks = list(slot_values[2 * SLOTS :])
        r = compose(
            model,
            prompt,
            slots,
            steps,
            guidance,
            mask_weight,
            style_fidelity,
            n,
            seed,
            bool(baselines),
            picks,
        )
        return r.freecustom, r.text, r.collage_images, r.collage, r.info

    with gr.Blocks(title="Multi-concept composition", analytics_enabled=False) as demo:
        gr.Markdown(
            "# Multi-concept composition (FreeCustom)\nOne reference image per concept: upload it or pick a toy "
            "concept, paint its mask with the brush (or fill it automatically; nothing painted = the whole image), "
            "give its prompt. Then write the target prompt. FreeCustom's generated images attend to the references "
            "inside their masks (multi-reference self-attention, no training); the baselines are the plain pipeline "
            "with the prompt alone and image-to-image from a collage of the references."
        )
        slot_inputs, pickers, editors, concept_prompts = [], [], [], []
        defaults = list(DEFAULT_PICKS) + [None] * SLOTS
        with gr.Row():
            for k in range(SLOTS):
                start = pick_toy_concept(defaults[k]) if defaults[k] else (None, "")
                with gr.Column():
                    editor = gr.ImageEditor(
                        value=start[0],
                        label=f"concept {k + 1}: reference + mask",
                        type="numpy",
                        image_mode="RGBA",
                        sources=("upload", "clipboard"),
                        brush=gr.Brush(colors=["#ff0000"], color_mode="fixed"),
                        height=300,
                    )
                    concept_prompt = gr.Textbox(
                        value=start[1],
                        label=f"concept {k + 1} prompt",
                        placeholder="a large circle",
                        max_length=MAX_CONCEPT_CHARS,
                    )
                    with gr.Row():
                        pick = gr.Dropdown(picks, label="or pick a toy concept", value=defaults[k])
                        fill = gr.Button("auto mask")
                    fill.click(on_auto, [editor, concept_prompt], editor, api_name=f"auto_mask_{k + 1}")
                    slot_inputs += [editor, concept_prompt]
                    editor.upload(lambda: None, None, pick, queue=False)  # an uploaded image is no toy pick
                    pickers.append(pick)
                    editors.append(editor)
                    concept_prompts.append(concept_prompt)
        prompt = gr.Textbox(
            label="target prompt (picking toy concepts writes it)",
            value=target_prompt(defaults[:SLOTS]),
            max_length=limits.MAX_PROMPT_CHARS,
        )
        for k, pick in enumerate(pickers):
            pick.input(
                functools.partial(on_pick, k),
                pickers,
                [editors[k], concept_prompts[k], prompt],
                api_name=f"pick_{k + 1}",
            )
        with gr.Row():
            model = gr.Dropdown(
                ["auto", "dummy", "toy", "toy-ref", "sd15"],
                value=DEFAULT_MODEL,
                label="model",
                allow_custom_value=True,
            )
            steps = gr.Slider(
                1, MAX_STEPS, value=WORKBENCH_SAMPLING.num_inference_steps, step=1, label="DDIM steps"
            )
            guidance = gr.Slider(
                *GUIDANCE_RANGE, value=WORKBENCH_SAMPLING.guidance_scale, step=0.5, label="guidance"
            )
            mask_weight = gr.Slider(*MASK_WEIGHT_RANGE, value=3.0, step=0.5, label="mask weight")
            style_fidelity = gr.Slider(*STYLE_FIDELITY_RANGE, value=1.0, step=0.1, label="style fidelity")
            n = gr.Slider(1, MAX_IMAGES, value=2, step=1, label="images")
            seed = gr.Number(label="seed", value=0, precision=0, minimum=0, maximum=limits.SEED_MAX)
            baselines = gr.Checkbox(value=True, label="baselines")
        run = gr.Button("Compose", variant="primary")
        info = gr.Markdown()
        with gr.Row():
            fc = gr.Gallery(label="FreeCustom", columns=2)
            text = gr.Gallery(label="text only", columns=2)
            collage_out = gr.Gallery(label="collage img2img", columns=2)
            collage = gr.Image(label="collage", interactive=False)
        run.click(
            on_compose,
            [
                model,
                prompt,
                steps,
                guidance,
                mask_weight,
                style_fidelity,
                n,
                seed,
                baselines,
                *slot_inputs,
                *pickers,
            ],
            [fc, text, collage_out, collage, info],
            concurrency_id="models",
            api_name="compose",
        )
    return demo


if __name__ == "__main__":
    from apps.hub import serve

    serve(NAME)
