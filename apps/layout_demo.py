"""Layout-aware generation demo: write a prompt, give each phrase a box (a table of phrase + x0, y0, x1, y1,
normalised; boxes drawn on a canvas, one layer per phrase; or let the planner fill it from the prompt),
pick a method, generate; see the image with its boxes and each phrase's cross-attention map. A second tab
makes PAID-style product posters: upload a product (PNG with transparency), describe the background, add
taglines. A third runs GCDP (:mod:`apps.layout_gcdp`): text -> an image and its semantic layout side by side,
and a layout -> its image.

Run it alone with ``python -m apps.layout_demo`` or through the hub (``workbench demo``). The handlers
(:func:`plan_rows`, :func:`preview_layout`, :func:`boxes_from_drawing`, :func:`generate_layout`,
:func:`make_poster`) are plain functions, testable without a
browser. ``WORKBENCH_LAYOUT_DEMO_MODEL`` sets the default model (``auto``: the toy SD when trained, else
random weights; ``dummy``; ``sd15`` on a GPU; or a folder under the demos' models root, see
:mod:`apps.models`). Every input is bounded (steps, guidance, seed, text lengths, table rows, drawn
layers) in the page and in the handlers.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from apps import layout_gcdp, limits, register_demo
from apps.cache import LRUCache, cached_models
from apps.models import resolve_demo_model, shown_model
from generators.layout import BoxLayout, LayoutError
from generators.layout.planner import ShapesGrammarPlanner
from toyworld.world import parse_phrase
from workbench.generation import build_generator
from workbench.loading.choice import build_sd_pipeline, resolve_choice
from workbench.runtime import Runtime
from workbench.sampling import WORKBENCH_SAMPLING

logger = logging.getLogger(__name__)

NAME = "layout"
MAX_STEPS = 100
MAX_BOXES = 8
MAX_TABLE_ROWS = 32  # rows sent by the table, blank ones included
MAX_LAYERS = 16  # drawn layers, blank ones included
MAX_PHRASE_CHARS = 100
MAX_TAGLINES = 4
MAX_TAGLINE_CHARS = 300
GUIDANCE_RANGE = (1.0, 15.0)
PREVIEW_SIDE = 256
METHOD_CHOICES = ("box_guidance", "boxdiff", "regions", "stock", "gligen")
DEFAULT_MODEL = os.environ.get("WORKBENCH_LAYOUT_DEMO_MODEL", "auto")
DEFAULT_PROMPT = "a large red circle on the left and a large blue star on the right"
_PIPES: LRUCache[str, tuple[Any, str]] = LRUCache(cached_models, "layout demo pipelines")
_GLIGEN: LRUCache[str, Any] = LRUCache(1, "layout demo GLIGEN pipeline")


@dataclass
class LayoutResult:
    """What one run shows: the image with its boxes, the bare image, per-phrase attention overlays, a summary."""

    boxed: np.ndarray
    image: np.ndarray
    attention: list[tuple[np.ndarray, str]]
    info: str


def resolve_model_box(typed: str) -> str:
    """The model box's text resolved to what is loaded: ``auto`` becomes ``toy`` or ``dummy``; a folder
    (under the models root only) its resolved path; a preset with an SD model stays as it is."""
    return resolve_choice(resolve_demo_model(typed, kind="sd", names=("auto", "dummy")), "sd")


def _pipeline(model: str) -> tuple[Any, str]:
    """The SD pipeline of the model box's ``model`` (bounded LRU cache keyed by the resolved model)."""
    key = resolve_model_box(model)

    def load() -> tuple[Any, str]:
        pipe, source = build_sd_pipeline(key, Runtime(seed=0, deterministic=False))
        pipe.set_progress_bar_config(disable=True)
        return pipe, source

    return _PIPES.get_or_create(key, load)


def _gligen() -> Any:
    def load() -> Any:
        from generators.layout.gligen import load_gligen_pipeline  # deferred: diffusers

        return load_gligen_pipeline(None, Runtime(seed=0, deterministic=False))

    return _GLIGEN.get_or_create("pipe", load)


def _settings_checked(steps: Any, guidance: Any, seed: Any) -> tuple[int, float, int]:
    """``(steps, guidance, seed)`` within the demo's bounds (else :class:`apps.limits.InputError`)."""
    return (
        limits.integer("steps", steps, 1, MAX_STEPS),
        limits.number("guidance", guidance, *GUIDANCE_RANGE),
        limits.seed(seed),
    )


def _table_rows(rows: Any) -> list[list[Any]]:
    """The table's rows as lists (``gr.Dataframe`` gives a list of lists or a pandas DataFrame)."""
    if rows is None:
        return []
    if hasattr(rows, "values") and hasattr(rows, "columns"):  # a pandas DataFrame
        return rows.values.tolist()
    return [list(r) for r in rows]


def rows_to_layout(rows: Any) -> Any:
    """Table rows ``[phrase, x0, y0, x1, y1]`` (a list of lists or a DataFrame) -> a validated ``BoxLayout``;
    rows without a phrase are ignored.

    Raises:
        LayoutError: a bad number, a bad box, too many boxes.
    """
    phrases, boxes = [], []
    table = _table_rows(rows)
    if len(table) > MAX_TABLE_ROWS:
        raise LayoutError(f"the table has {len(table)} rows; the demo takes at most {MAX_TABLE_ROWS}")
    for k, row in enumerate(table):
        row = list(row)[:5] + [None] * (5 - len(row))
        phrase = str(row[0] or "").strip()
        if not phrase or phrase.lower() == "nan":
            continue
        if len(phrase) > MAX_PHRASE_CHARS:
            raise LayoutError(
                f"row {k + 1}: the phrase has {len(phrase)} characters; at most {MAX_PHRASE_CHARS}"
            )
        try:
            box = tuple(float(v) for v in row[1:5])
        except (TypeError, ValueError, OverflowError) as exc:
            raise LayoutError(
                f"row {k + 1} ({phrase[:40]!r}): x0, y0, x1, y1 must be numbers in [0, 1], got {str(row[1:5])[:80]}"
            ) from exc
        if not all(math.isfinite(v) for v in box):
            raise LayoutError(
                f"row {k + 1} ({phrase[:40]!r}): x0, y0, x1, y1 must be finite numbers in [0, 1]"
            )
        phrases.append(phrase)
        boxes.append(box)
    if not phrases:
        raise LayoutError("give at least one phrase with its box (or press 'plan from prompt')")
    if len(phrases) > MAX_BOXES:
        raise LayoutError(f"{len(phrases)} boxes; the demo takes at most {MAX_BOXES}")
    return BoxLayout(phrases=phrases, boxes=boxes)


def plan_rows(prompt: str) -> list[list[Any]]:
    """The shapes planner's layout of ``prompt`` as table rows ``[phrase, x0, y0, x1, y1]`` (3 decimals)."""
    prompt = limits.text("prompt", prompt, limits.MAX_PROMPT_CHARS, required="write a prompt to plan")
    layout = ShapesGrammarPlanner().plan(prompt)
    return [[p, *[round(v, 3) for v in b]] for p, b in zip(layout.phrases, layout.boxes)]


def preview_layout(rows: Any) -> np.ndarray:
    """The boxes drawn on a blank canvas, `(256, 256, 3)` uint8."""
    from generators.layout.visual import draw_boxes  # deferred: PIL

    layout = rows_to_layout(rows)
    canvas = torch.full((3, PREVIEW_SIDE, PREVIEW_SIDE), 0.12)
    return np.asarray(draw_boxes(canvas, layout.boxes, layout.phrases))


def boxes_from_drawing(drawing: Any, rows: Any) -> list[list[Any]]:
    """Table rows whose boxes are the bounding boxes of the drawn layers: layer ``k`` (its painted pixels)
    gives row ``k`` its box; rows keep their phrases, new rows get an empty phrase to fill in.

    Args:
        drawing: the ``gr.ImageEditor`` value (``{"background", "layers", "composite"}``, numpy arrays).
        rows: the current table rows ``[phrase, x0, y0, x1, y1]``.

    Raises:
        LayoutError: nothing drawn, or more layers than the demo takes.
    """
    if drawing is not None and not isinstance(drawing, dict):
        raise LayoutError("the drawing must be an image-editor value (background, layers, composite)")
    layers = list((drawing or {}).get("layers") or [])
    if len(layers) > MAX_LAYERS:
        raise LayoutError(f"{len(layers)} drawn layers; the demo takes at most {MAX_LAYERS}")
    boxes = []
    for layer in layers:
        arr = np.asarray(layer)
        painted = (
            arr[..., 3] > 0
            if arr.ndim == 3 and arr.shape[2] == 4
            else arr.reshape(arr.shape[:2] + (-1,)).any(-1)
        )
        if not painted.any():
            continue
        h, w = painted.shape
        ys, xs = np.nonzero(painted)
        boxes.append(
            [
                round(xs.min() / w, 3),
                round(ys.min() / h, 3),
                round((xs.max() + 1) / w, 3),
                round((ys.max() + 1) / h, 3),
            ]
        )
    if not boxes:
        raise LayoutError("nothing drawn: paint each object's area in its own layer (layer 1 = first row)")
    if len(boxes) > MAX_BOXES:
        raise LayoutError(f"{len(boxes)} drawn layers; the demo takes at most {MAX_BOXES}")
    phrases = [
        str(r[0] or "").strip() for r in _table_rows(rows) if r and str(r[0] or "").strip().lower() != "nan"
    ]
    phrases += [""] * (len(boxes) - len(phrases))
    return [[phrase, *box] for phrase, box in zip(phrases, boxes)]


def make_poster(
    model: str,
    product: Any,
    prompt: str,
    taglines: str,
    steps: int = WORKBENCH_SAMPLING.num_inference_steps,
    guidance: float = WORKBENCH_SAMPLING.guidance_scale,
    seed: int = 0,
) -> np.ndarray:
    """A PAID-style poster: the product (a PIL image; transparency marks what is not product) kept as it is,
    a background generated from ``prompt`` around it, one tagline per line of ``taglines`` drawn on top.

    Returns:
        `np.ndarray` of shape `(256, 256, 3)` uint8 (the poster, enlarged for display).

    Raises:
        ValueError (``LayoutError``): no product, no prompt, no tagline, a tagline that does not fit.
    """
    from PIL import Image

    from generators.layout.poster import generate_product_poster  # deferred: PIL

    if product is None:
        raise ValueError("upload a product image (a PNG with transparency keeps only the product's pixels)")
    steps, guidance, seed = _settings_checked(steps, guidance, seed)
    model = resolve_model_box(model)
    prompt = limits.text("background prompt", prompt, limits.MAX_PROMPT_CHARS)
    taglines = limits.text("taglines", taglines, MAX_TAGLINE_CHARS)
    lines = [t.strip() for t in taglines.splitlines() if t.strip()]
    if not lines:
        raise ValueError("write at least one tagline (one per line)")
    if len(lines) > MAX_TAGLINES:
        raise limits.InputError(f"{len(lines)} taglines; the demo draws at most {MAX_TAGLINES}")
    image = product if isinstance(product, Image.Image) else Image.fromarray(np.asarray(product))
    pipe, _ = _pipeline(model)
    poster = generate_product_poster(
        pipe,
        prompt,
        image,
        lines,
        generator=torch.Generator().manual_seed(int(seed)),
        num_inference_steps=int(steps),
        guidance_scale=float(guidance),
        output_size=PREVIEW_SIDE,
    )
    return (poster.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


CLAIM = (
    "Measured on 96 held-out two-object prompts (`workbench run examples/layout_eval.yaml`): region prompts put "
    "every object in its box 35 points more often than the stock toy SD (mean IoU 0.65)."
)


def _judge() -> Any | None:
    """The toy world's judge, or ``None`` when it is not shipped here (shared with the GCDP tab)."""
    return layout_gcdp.toy_judge()


VERDICT_IMAGES = 4  # seeds the judge's count is taken over (one image can miss; the count is the number)


def _requested(layout: Any) -> list[Any] | None:
    """The layout's objects as the judge checks them, ``None`` when a phrase names no toy shape."""
    from generators.layout.scoring import RequestedObject  # deferred: diffusers, scipy

    requested = []
    for phrase, box in zip(layout.phrases, layout.boxes):
        parsed = parse_phrase(phrase)
        if parsed.shape is None:
            return None
        requested.append(RequestedObject(parsed.shape, parsed.color, tuple(box)))
    return requested


def region_prompts(prompt: str, layout: Any) -> list[str]:
    """Each box's region prompt: the planner's (the phrase with its place, as the layout evaluation
    measured region prompts) when it reads the same objects from the prompt, else the table's phrases."""
    try:
        planned = ShapesGrammarPlanner().region_prompts(prompt)
    except ValueError:
        return list(layout.phrases)
    if len(planned) != len(layout.phrases) or not all(p in r for p, r in zip(layout.phrases, planned)):
        return list(layout.phrases)
    return planned


def judge_layout(
    generator: Any, stock: Any, layout: Any, prompt: str, steps: int, guidance: float, seed: int
) -> str:
    """The judge's count of images with every object in its box, for the method and the stock pipeline
    on the same noise (seeds ``seed`` .. ``seed + VERDICT_IMAGES - 1``); ``""`` without the judge or when
    a phrase names no toy shape."""
    from generators.layout.methods import layout_request  # deferred: diffusers
    from generators.layout.scoring import score_image  # deferred: diffusers, scipy

    judge, requested = _judge(), _requested(layout)
    if judge is None or not requested:
        return ""
    counts = []
    for method in (generator, stock):
        gens = [torch.Generator().manual_seed(seed + i) for i in range(VERDICT_IMAGES)]
        n = len(gens)
        regions = region_prompts(prompt, layout)  # each phrase with its place, as the evaluation
        images = method(layout_request([prompt] * n, [layout] * n, [regions] * n, gens, steps, guidance))
        detections = judge.detect(images.float())
        counts.append(sum(score_image(prompt, requested, d, 0.5).all_in_box for d in detections))
    return (
        f"Judge: every object in its box in **{counts[0]} of {VERDICT_IMAGES}** images "
        f"(seeds {seed}-{seed + VERDICT_IMAGES - 1}); the stock pipeline on the same noise: "
        f"**{counts[1]} of {VERDICT_IMAGES}**."
    )


def generate_layout(
    model: str,
    prompt: str,
    rows: Any,
    method: str = "regions",
    steps: int = WORKBENCH_SAMPLING.num_inference_steps,
    guidance: float = WORKBENCH_SAMPLING.guidance_scale,
    seed: int = 0,
    show_attention: bool = True,
) -> LayoutResult:
    """Generate one image whose phrases follow the table's boxes.

    Args:
        model: ``auto``, ``dummy``, ``toy``, ``sd15``, a hub id or a folder.
        prompt: the prompt; every phrase of the table must occur in it word for word.
        rows: table rows ``[phrase, x0, y0, x1, y1]``, normalised xyxy.
        method: one of :data:`METHOD_CHOICES`.

    Raises:
        ValueError (``LayoutError``): no prompt, a bad layout, a phrase missing from the prompt, bad settings.
    """
    # deferred: diffusers
    from generators.layout import BoxGuidanceConfig, RegionsConfig, StableDiffusionBoxGuidancePipeline
    from generators.layout.methods import layout_request  # deferred: diffusers
    from generators.layout.visual import attention_overlay, draw_boxes  # deferred: PIL

    prompt = limits.text(
        "prompt", prompt, limits.MAX_PROMPT_CHARS, required=f"write a prompt (e.g. {DEFAULT_PROMPT!r})"
    )
    method = limits.choice("method", method, METHOD_CHOICES)
    steps, guidance, seed = _settings_checked(steps, guidance, seed)
    model = resolve_model_box(model)  # refused before the table is read
    layout = rows_to_layout(rows)
    layout.check_prompt(prompt)
    pipe, source = _pipeline(model)
    g = torch.Generator().manual_seed(int(seed))
    base = _gligen() if method == "gligen" else pipe
    if method == "gligen":
        base.scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
    generator = build_generator(
        method, base, RegionsConfig.for_model(source) if method == "regions" else None
    )
    maps = None
    note = ""
    if method in ("box_guidance", "boxdiff", "stock") and show_attention:
        # the box-guidance pipeline also records the maps; guidance off is the stock pipeline
        config = BoxGuidanceConfig.preset("boxdiff" if method == "boxdiff" else "fast")
        if method == "stock":
            config = config.model_copy(update={"guided_steps": 0})
        guided = StableDiffusionBoxGuidancePipeline(**{**pipe.components, "requires_safety_checker": False})
        guided.set_progress_bar_config(disable=True)
        out = guided(
            prompt,
            layout=layout,
            guidance=config,
            num_inference_steps=int(steps),
            guidance_scale=float(guidance),
            generator=g,
            output_type="pt",
            return_attention=True,
        )
        image, maps = out.images[0].float().cpu(), out.attention_maps[0]
    else:
        request = layout_request(
            [prompt], [layout], [region_prompts(prompt, layout)], [g], int(steps), float(guidance)
        )
        image = generator(request)[0]
        if show_attention:
            note = f" Attention maps are shown for box_guidance, boxdiff and stock; {method} has none."
    scale = max(1, PREVIEW_SIDE // image.shape[-1])
    boxed = np.asarray(draw_boxes(image, layout.boxes, layout.phrases, scale=scale))
    attention = []
    if maps is not None:
        for phrase, m in zip(layout.phrases, maps):
            attention.append((np.asarray(attention_overlay(image, m)), phrase))
    stock = build_generator("stock", pipe)
    verdict = judge_layout(generator, stock, layout, prompt, int(steps), float(guidance), int(seed))
    info = (
        (f"{verdict} {CLAIM}\n\n" if verdict else "")
        + f"model **{shown_model(source)}**, method **{method}**, {steps} steps, guidance {guidance}, seed {seed}.{note}"
    )
    bare = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return LayoutResult(boxed=boxed, image=bare, attention=attention, info=info)


@register_demo(
    NAME,
    title="Layout-aware generation",
    description="Boxes in, faithful compositions out: box guidance, BoxDiff, region prompts, GLIGEN; attention maps per phrase; product posters; GCDP image + layout.",
)
def build():
    """The demo's ``gr.Blocks`` (models load on the first run)."""
    import gradio as gr

    with gr.Blocks(title="Layout-aware generation", analytics_enabled=False) as demo:
        with gr.Tab("Boxes"):
            _boxes_tab(gr)
        with gr.Tab("Product poster"):
            _poster_tab(gr)
        with gr.Tab("GCDP: image + layout"):
            layout_gcdp.build_tab(gr)
    return demo


def _settings(gr: Any) -> tuple[Any, Any, Any, Any]:
    model = gr.Dropdown(
        ["auto", "dummy", "toy", "sd15"], value=DEFAULT_MODEL, label="model", allow_custom_value=True
    )
    steps = gr.Slider(1, MAX_STEPS, value=WORKBENCH_SAMPLING.num_inference_steps, step=1, label="steps")
    guidance = gr.Slider(*GUIDANCE_RANGE, value=WORKBENCH_SAMPLING.guidance_scale, step=0.5, label="guidance")
    seed = gr.Number(label="seed", value=0, precision=0, minimum=0, maximum=limits.SEED_MAX)
    return model, steps, guidance, seed


def _boxes_tab(gr: Any) -> None:
    @limits.demo_handler
    def on_plan(prompt):
        rows = plan_rows(prompt)
        return rows, preview_layout(rows)

    def preview_or_none(rows):
        try:
            return preview_layout(rows)
        except ValueError:
            return None

    on_preview = limits.demo_handler(preview_or_none)

    @limits.demo_handler
    def on_drawn(drawing, rows):
        new = boxes_from_drawing(drawing, rows)
        return new, preview_or_none(new)

    @limits.demo_handler
    def on_generate(model, prompt, rows, method, steps, guidance, seed, show):
        r = generate_layout(model, prompt, rows, method, steps, guidance, seed, bool(show))
        return r.boxed, r.attention, r.info

    gr.Markdown(
        "# Layout-aware generation\nWrite a prompt and give each object phrase its box: one row per phrase, "
        "`x0, y0, x1, y1` as fractions of the width and height (y down), or draw the boxes (one layer per "
        "phrase, in the table's order). The phrases must be words of the prompt. *Plan from prompt* fills "
        "the table for shapes-world prompts. Box guidance and BoxDiff steer each phrase's cross-attention "
        "into its box (no training); region prompts fuse one denoising per region; GLIGEN uses grounding "
        "tokens (needs its trained weights)."
    )
    prompt = gr.Textbox(label="prompt", value=DEFAULT_PROMPT, max_length=limits.MAX_PROMPT_CHARS)
    with gr.Row():
        with gr.Column(scale=3):
            table = gr.Dataframe(
                headers=["phrase", "x0", "y0", "x1", "y1"],
                datatype=["str", "number", "number", "number", "number"],
                value=plan_rows(DEFAULT_PROMPT),
                row_count=(2, "dynamic"),
                column_count=(5, "fixed"),
                type="array",
                label="boxes (normalised xyxy)",
                interactive=True,
            )
            plan = gr.Button("plan from prompt")
        preview = gr.Image(
            label="layout", value=preview_layout(plan_rows(DEFAULT_PROMPT)), interactive=False, height=256
        )
    with gr.Accordion("draw the boxes", open=False):
        canvas = gr.ImageEditor(
            value={
                "background": np.full((PREVIEW_SIDE, PREVIEW_SIDE, 3), 30, np.uint8),
                "layers": [],
                "composite": None,
            },
            canvas_size=(PREVIEW_SIDE, PREVIEW_SIDE),
            fixed_canvas=True,
            sources=None,
            layers=True,
            label="paint each object's area in its own layer (layer 1 = first row)",
        )
        use = gr.Button("use the drawn boxes")
    with gr.Row():
        model, steps, guidance, seed = _settings(gr)
        method = gr.Dropdown(list(METHOD_CHOICES), value="regions", label="method")
        show = gr.Checkbox(value=True, label="attention maps")
    run = gr.Button("Generate", variant="primary")
    info = gr.Markdown()
    with gr.Row():
        image = gr.Image(label="image with its boxes", interactive=False)
        attention = gr.Gallery(label="cross-attention per phrase", columns=3)
    plan.click(on_plan, prompt, [table, preview], api_name="plan")
    use.click(on_drawn, [canvas, table], [table, preview], api_name="drawn")
    table.change(on_preview, table, preview, api_name="preview")
    run.click(
        on_generate,
        [model, prompt, table, method, steps, guidance, seed, show],
        [image, attention, info],
        concurrency_id="models",
        api_name="generate",
    )


def _poster_tab(gr: Any) -> None:
    @limits.demo_handler
    def on_poster(model, product, prompt, taglines, steps, guidance, seed):
        return make_poster(model, product, prompt, taglines, steps, guidance, seed)

    gr.Markdown(
        "# Product poster (PAID)\nThe product is kept pixel for pixel (transparent pixels are not product); "
        "the background is generated around it from the prompt; the taglines are drawn in a band at the top."
    )
    with gr.Row():
        product = gr.Image(label="product (PNG with transparency)", type="pil", image_mode="RGBA", height=256)
        poster = gr.Image(label="poster", interactive=False, height=256)
    prompt = gr.Textbox(
        label="background prompt",
        value="a large green square on the left",
        max_length=limits.MAX_PROMPT_CHARS,
    )
    taglines = gr.Textbox(
        label="taglines (one per line)", value="Fresh", lines=2, max_length=MAX_TAGLINE_CHARS
    )
    with gr.Row():
        model, steps, guidance, seed = _settings(gr)
    make = gr.Button("Make the poster", variant="primary")
    make.click(
        on_poster,
        [model, product, prompt, taglines, steps, guidance, seed],
        poster,
        concurrency_id="models",
        api_name="poster",
    )


if __name__ == "__main__":
    from apps.hub import serve

    serve(NAME)
