"""The layout demo's GCDP tab: text in -> an image and its semantic layout side by side (the layout drawn as a
colour-coded class map with a legend); a layout in (one box per line, ``circle 0.1 0.1 0.5 0.5``) -> the
image generated around it. A model of colour layouts (50 (shape, colour) classes) draws each class in its
object's colour and takes a colour on each box line (``red circle 0.1 0.1 0.5 0.5``).

Models: ``auto`` (the shipped toy GCDP, ``toyworld/models/gcdp``) or ``dummy`` (random weights: the code
path only). Without shipped weights the tab says so in one line, with how to train them, and every result
of ``dummy`` is marked untrained. The handlers (:func:`text_to_image_and_layout`, :func:`layout_to_image`,
:func:`parse_boxes`, :func:`render_layout`) are plain functions, testable without a browser; every input is
bounded here and in the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from apps import limits
from apps.cache import LRUCache
from generators.layout.experiment import load_judge
from generators.layout.gcdp.evaluate import implied_layouts, layout_miou
from generators.layout.gcdp.generator import GCDP_DIR, load_gcdp_pipeline, pipeline_layout_colors
from generators.layout.gcdp.pipeline import LAYOUT_TEMPERATURE
from generators.layout.gcdp.testing import tiny_gcdp_pipeline
from toyworld.semantic import EMBLEM, LAYOUT_CLASSES, layout_classes, layout_from_objects
from toyworld.vocab import COLOR_NAMES, COLORS, SHAPES
from workbench.sampling import WORKBENCH_SAMPLING

__all__ = [
    "CLASS_COLOURS",
    "GCDPResult",
    "gcdp_status",
    "layout_agreement",
    "layout_to_image",
    "legend_markdown",
    "parse_boxes",
    "render_layout",
    "text_to_image_and_layout",
]

MODEL_CHOICES = ("auto", "dummy")
MAX_STEPS = 100
GUIDANCE_RANGE = (1.0, 15.0)
TEMPERATURE_RANGE = (0.0, 2.0)
MAX_BOXES = 8
MAX_BOX_LINES = 32  # lines sent, blank ones included
MAX_BOXES_CHARS = 1000
PREVIEW_SIDE = 256
DEFAULT_PROMPT = "a large red circle on the left and a large blue star on the right"
DEFAULT_BOXES = "circle 0.05 0.25 0.45 0.75\nstar 0.55 0.25 0.95 0.75"
TRAIN_COMMAND = "workbench toy train gcdp --minutes 60"
# one colour per class of LAYOUT_CLASSES: background, the six shapes, emblem
CLASS_COLOURS: tuple[tuple[int, int, int], ...] = (
    (30, 30, 30),
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (240, 240, 240),
)
# colour layouts: each (shape, colour) class drawn in its colour, the background and emblem as above
COLOR_CLASS_COLOURS: tuple[tuple[int, int, int], ...] = (
    CLASS_COLOURS[0],
    *(tuple(round(255 * v) for v in COLORS[c]) for _ in SHAPES for c in COLOR_NAMES),
    CLASS_COLOURS[-1],
)
_PIPES: LRUCache[str, Any] = LRUCache(1, "layout demo GCDP pipeline")
_JUDGES: LRUCache[str, Any] = LRUCache(1, "layout demo judge")


@dataclass
class GCDPResult:
    """What one run shows: the image, the layout's class map (both `(256, 256, 3)` uint8), a summary."""

    image: np.ndarray
    layout: np.ndarray
    info: str


def gcdp_status() -> str:
    """One line: which GCDP weights the ``auto`` model loads, or that none are shipped and how to train them."""
    if (GCDP_DIR / "model_index.json").is_file():
        return "Model `auto`: the shipped toy GCDP (trained; its measured numbers are in its model card)."
    return (
        f"**Untrained**: no GCDP weights are shipped; train them with `{TRAIN_COMMAND}` (needs the toy SD) "
        "or pick `dummy` to run the code path on random weights."
    )


def _pipeline(model: str) -> tuple[Any, bool]:
    """The GCDP pipeline of ``model`` and whether it is trained (``dummy``: random weights)."""
    model = limits.choice("model", model, MODEL_CHOICES)
    if model == "dummy":
        return _PIPES.get_or_create("dummy", lambda: tiny_gcdp_pipeline(seed=0)), False
    if not (GCDP_DIR / "model_index.json").is_file():
        raise limits.InputError(
            f"no trained GCDP weights are shipped: train them with `{TRAIN_COMMAND}`, or pick the model 'dummy'"
        )
    return _PIPES.get_or_create("auto", lambda: load_gcdp_pipeline(None)), True


def layout_agreement(judge: Any, image: torch.Tensor, layout: torch.Tensor, colors: bool = False) -> float:
    """How well a generated layout `(h, w)` matches its image `(3, H, W)` in [0, 1]: the mean IoU between the
    layout and the one the judge's detections imply (the measure ``layout_image_miou`` of
    :mod:`generators.layout.gcdp.evaluate`; 1 = the same map; ``colors``: colour layouts)."""
    detections = judge.detect(image[None].float())
    factor = image.shape[-1] // layout.shape[-1]
    implied = implied_layouts(detections, image.shape[-1], factor, colors)  # (1, h, w)
    return layout_miou(layout[None], implied)[0].item()


def toy_judge() -> Any | None:
    """The toy world's judge, or ``None`` when it is not shipped here (one copy for the whole layout demo)."""
    return _JUDGES.get_or_create("toy", lambda: load_judge("auto", required=False))


def _settings_checked(steps: Any, guidance: Any, seed: Any) -> tuple[int, float, int]:
    return (
        limits.integer("steps", steps, 1, MAX_STEPS),
        limits.number("guidance", guidance, *GUIDANCE_RANGE),
        limits.seed(seed),
    )


def parse_boxes(text: Any, max_boxes: int = MAX_BOXES) -> list[tuple[str, tuple[float, float, float, float]]]:
    """``[colour] class x0 y0 x1 y1`` per line (a shape of the toy world or ``emblem``, a colour of the toy
    world before it if wanted; the box normalised xyxy, y down) -> ``[(class, box)]`` (class ``"red circle"``
    with a colour); blank lines are skipped.

    Raises:
        InputError: an unknown class, a bad number, an empty box, too many lines or boxes.
    """
    text = limits.text(
        "boxes", text, MAX_BOXES_CHARS, required=f"write one box per line, e.g. {DEFAULT_BOXES!r}"
    )
    lines = text.splitlines()
    if len(lines) > MAX_BOX_LINES:
        raise limits.InputError(f"the boxes have {len(lines)} lines; at most {MAX_BOX_LINES}")
    names = (*SHAPES, LAYOUT_CLASSES[EMBLEM])
    out = []
    for k, line in enumerate(lines):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        color = parts.pop(0).lower() if len(parts) == 6 else None
        if len(parts) != 5:
            raise limits.InputError(
                f"line {k + 1}: write '[colour] class x0 y0 x1 y1' (5 items, 6 with a colour), got "
                f"{len(line.replace(',', ' ').split())}"
            )
        if color is not None and color not in COLOR_NAMES:
            raise limits.InputError(
                f"line {k + 1}: colour {color[:20]!r} is not one of {', '.join(COLOR_NAMES)}"
            )
        cls = parts[0].lower()
        if cls not in names:
            raise limits.InputError(f"line {k + 1}: class {parts[0][:20]!r} is not one of {', '.join(names)}")
        if color is not None and cls != "emblem":
            cls = f"{color} {cls}"
        try:
            box = tuple(float(v) for v in parts[1:])
        except ValueError:
            raise limits.InputError(f"line {k + 1}: x0 y0 x1 y1 must be numbers in [0, 1]") from None
        if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in box):
            raise limits.InputError(f"line {k + 1}: x0 y0 x1 y1 must be finite numbers in [0, 1]")
        if box[2] - box[0] < 0.05 or box[3] - box[1] < 0.05:
            raise limits.InputError(f"line {k + 1}: the box needs x1 > x0 and y1 > y0 (at least 0.05 apart)")
        out.append((cls, box))
    if not out:
        raise limits.InputError(f"write one box per line, e.g. {DEFAULT_BOXES!r}")
    if len(out) > max_boxes:
        raise limits.InputError(f"{len(out)} boxes; the demo takes at most {max_boxes}")
    return out


def boxes_class_map(
    boxes: list[tuple[str, tuple[float, float, float, float]]], size: int, colors: bool = False
) -> torch.Tensor:
    """The class map `(size, size)` of ``boxes``: each shape drawn filling its box, later lines on top;
    ``colors``: the (shape, colour) classes of a colour-layout model, every shape's line naming its colour.

    Raises:
        InputError: ``colors`` and a shape's line without a colour.
    """
    objs = []
    for cls, box in boxes:
        color, shape = cls.split() if " " in cls else (None, cls)
        if shape == "emblem":
            objs.append(("emblem", "square", box, None))
        elif colors and color is None:
            raise limits.InputError(
                f"this GCDP model's layouts have colours: write the {shape}'s colour before it "
                f"('red {shape} x0 y0 x1 y1'), one of {', '.join(COLOR_NAMES)}"
            )
        else:
            objs.append((None, shape, box, color))
    return layout_from_objects([objs], size, colors)[0]


def class_colours(colors: bool = False) -> tuple[tuple[int, int, int], ...]:
    """The drawing colour of each class: :data:`CLASS_COLOURS`, or :data:`COLOR_CLASS_COLOURS` (``colors``)."""
    return COLOR_CLASS_COLOURS if colors else CLASS_COLOURS


def render_layout(layout: torch.Tensor, side: int = PREVIEW_SIDE, colors: bool = False) -> np.ndarray:
    """A class map `(h, w)` of ids in ``[0, K)`` as colours (:func:`class_colours`), `(side, side, 3)` uint8;
    a still-masked id (``K``) is drawn mid grey."""
    palette = torch.tensor([*class_colours(colors), (128, 128, 128)], dtype=torch.uint8)  # (K + 1, 3)
    ids = torch.as_tensor(layout).long().clamp(0, len(palette) - 1)
    rgb = palette[ids]  # (h, w, 3)
    scale = max(1, side // max(ids.shape))
    return rgb.repeat_interleave(scale, 0).repeat_interleave(scale, 1).numpy()


def _show_image(image: torch.Tensor) -> np.ndarray:
    """An image `(3, H, W)` in [0, 1] as uint8 `(H', W', 3)`, enlarged (nearest) to about 256 px."""
    scale = max(1, PREVIEW_SIDE // image.shape[-1])
    rgb = (image.clamp(0, 1).permute(1, 2, 0) * 255).round().to(torch.uint8)
    return rgb.repeat_interleave(scale, 0).repeat_interleave(scale, 1).numpy()


def legend_markdown(present: Any = None, colors: bool = False) -> str:
    """The class map's legend: each class's colour (``present``: only the classes listed; ``colors``: the
    colour layouts' classes)."""
    names, palette = layout_classes(colors), class_colours(colors)
    keep = set(range(len(names))) if present is None else {int(c) for c in present}
    items = [
        f"<span style='color:rgb{palette[k]}'>■</span> {name}" for k, name in enumerate(names) if k in keep
    ]
    return "Legend: " + " · ".join(items)


def _trained_note(trained: bool) -> str:
    if trained:
        return "model **auto** (the shipped toy GCDP)"
    return f"model **dummy**: random weights, **untrained** (no measured claim; train with `{TRAIN_COMMAND}`)"


def text_to_image_and_layout(
    model: str,
    prompt: str,
    steps: int = WORKBENCH_SAMPLING.num_inference_steps,
    guidance: float = WORKBENCH_SAMPLING.guidance_scale,
    seed: int = 0,
    temperature: float = LAYOUT_TEMPERATURE,
) -> GCDPResult:
    """GCDP's joint mode: the image and its semantic layout from ``prompt``.

    Raises:
        InputError: no prompt, settings out of bounds, an unknown model, no shipped weights for ``auto``.
    """
    prompt = limits.text(
        "prompt", prompt, limits.MAX_PROMPT_CHARS, required=f"write a prompt (e.g. {DEFAULT_PROMPT!r})"
    )
    steps, guidance, seed = _settings_checked(steps, guidance, seed)
    temperature = limits.number("temperature", temperature, *TEMPERATURE_RANGE)
    pipe, trained = _pipeline(model)
    out = pipe(
        [prompt],
        num_inference_steps=steps,
        guidance_scale=guidance,
        temperature=temperature,
        generator=torch.Generator().manual_seed(seed),
        output_type="pt",
    )
    layout = out.layouts[0]  # (h, w)
    colors = pipeline_layout_colors(pipe)
    judge = toy_judge() if trained else None  # random weights make no claim
    verdict = (
        f"The judge's reading of this image agrees with its generated layout at **mIoU "
        f"{layout_agreement(judge, out.images[0], layout, colors):.2f}** (1 = the same map).\n\n"
        if judge is not None
        else ""
    )
    info = (
        f"{verdict}{legend_markdown(layout.unique().tolist(), colors)}\n\n{_trained_note(trained)}, text -> "
        f"(image, layout), {steps} steps, guidance {guidance}, temperature {temperature}, seed {seed}."
    )
    return GCDPResult(
        image=_show_image(out.images[0]), layout=render_layout(layout, colors=colors), info=info
    )


def layout_to_image(
    model: str,
    prompt: str,
    boxes: str,
    steps: int = WORKBENCH_SAMPLING.num_inference_steps,
    guidance: float = WORKBENCH_SAMPLING.guidance_scale,
    seed: int = 0,
) -> GCDPResult:
    """GCDP given the layout: ``boxes`` (:func:`parse_boxes`) rasterised to the class map, held fixed while
    the image is generated around it.

    Raises:
        InputError: no prompt, bad boxes, settings out of bounds, an unknown model, no shipped weights.
    """
    prompt = limits.text(
        "prompt", prompt, limits.MAX_PROMPT_CHARS, required=f"write a prompt (e.g. {DEFAULT_PROMPT!r})"
    )
    steps, guidance, seed = _settings_checked(steps, guidance, seed)
    parsed = parse_boxes(boxes)
    pipe, trained = _pipeline(model)
    size = pipe.denoiser.config.trunk["sample_size"] * pipe.vae_scale_factor
    colors = pipeline_layout_colors(pipe)
    cmap = boxes_class_map(parsed, size, colors)  # (size, size)
    out = pipe(
        [prompt],
        layout=cmap,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=torch.Generator().manual_seed(seed),
        output_type="pt",
    )
    info = (
        f"{legend_markdown(cmap.unique().tolist(), colors)}\n\n{_trained_note(trained)}, layout -> image, "
        f"{len(parsed)} boxes, {steps} steps, guidance {guidance}, seed {seed}."
    )
    return GCDPResult(image=_show_image(out.images[0]), layout=render_layout(cmap, colors=colors), info=info)


def build_tab(gr: Any) -> None:
    """The tab's components and events (inside a ``gr.Tab``)."""

    @limits.demo_handler
    def on_joint(model, prompt, steps, guidance, seed, temperature):
        r = text_to_image_and_layout(model, prompt, steps, guidance, seed, temperature)
        return r.image, r.layout, r.info

    @limits.demo_handler
    def on_layout(model, prompt, boxes, steps, guidance, seed):
        r = layout_to_image(model, prompt, boxes, steps, guidance, seed)
        return r.layout, r.image, r.info

    gr.Markdown(
        "# GCDP: an image and its semantic layout together\nOne denoiser generates the image and its "
        "per-position class map (background, six shapes, emblem) from the prompt; given a layout, it "
        f"generates the image around it.\n\n{gcdp_status()}"
    )
    with gr.Row():
        model = gr.Dropdown(list(MODEL_CHOICES), value="auto", label="model")
        steps = gr.Slider(1, MAX_STEPS, value=WORKBENCH_SAMPLING.num_inference_steps, step=1, label="steps")
        guidance = gr.Slider(
            *GUIDANCE_RANGE, value=WORKBENCH_SAMPLING.guidance_scale, step=0.5, label="guidance"
        )
        seed = gr.Number(label="seed", value=0, precision=0, minimum=0, maximum=limits.SEED_MAX)
    prompt = gr.Textbox(label="prompt", value=DEFAULT_PROMPT, max_length=limits.MAX_PROMPT_CHARS)
    with gr.Tab("text -> image + layout"):
        temperature = gr.Slider(
            *TEMPERATURE_RANGE, value=LAYOUT_TEMPERATURE, step=0.1, label="layout temperature"
        )
        joint = gr.Button("Generate image and layout", variant="primary")
        with gr.Row():
            image = gr.Image(label="image", interactive=False, height=PREVIEW_SIDE)
            layout = gr.Image(label="its layout (class map)", interactive=False, height=PREVIEW_SIDE)
        joint_info = gr.Markdown()
    with gr.Tab("layout -> image"):
        boxes = gr.Textbox(
            label="boxes (one per line: [colour] class x0 y0 x1 y1)",
            info=f"class: {', '.join((*SHAPES, 'emblem'))}; colour (models of colour layouts): "
            f"{', '.join(COLOR_NAMES)}; the box as fractions of the width and height, y down",
            value=DEFAULT_BOXES,
            lines=4,
            max_length=MAX_BOXES_CHARS,
        )
        given = gr.Button("Generate the image", variant="primary")
        with gr.Row():
            drawn = gr.Image(label="the layout (class map)", interactive=False, height=PREVIEW_SIDE)
            made = gr.Image(label="image", interactive=False, height=PREVIEW_SIDE)
        layout_info = gr.Markdown()
    joint.click(
        on_joint,
        [model, prompt, steps, guidance, seed, temperature],
        [image, layout, joint_info],
        concurrency_id="models",
        api_name="gcdp_joint",
    )
    given.click(
        on_layout,
        [model, prompt, boxes, steps, guidance, seed],
        [drawn, made, layout_info],
        concurrency_id="models",
        api_name="gcdp_layout",
    )
