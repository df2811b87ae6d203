"""The layout demo's GCDP tab: the joint mode shows an image and its colour-coded layout, a typed layout is
rasterised to the class map the image is generated around, every input is bounded (a one-line refusal
naming the input), the tab takes no file input, and without shipped weights it says so in one line with how
to train them; results of random weights are marked untrained."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apps import layout_gcdp
from toyworld.semantic import LAYOUT_CLASSES

PROMPT = "a large red circle on the left and a large blue star on the right"
HUGE = "a red circle " * 2000


def _refused(call, *needles: str) -> str:
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert message and "\n" not in message and "Traceback" not in message, message
    for root in ("/work", "/root", "/tmp", "/etc", "/home"):
        assert root not in message, message
    for needle in needles:
        assert needle.lower() in message.lower(), (needle, message)
    return message


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(layout_gcdp, "GCDP_DIR", tmp_path / "gcdp")


def _colour(name: str) -> tuple[int, ...]:
    return layout_gcdp.CLASS_COLOURS[LAYOUT_CLASSES.index(name)]


def test_without_shipped_weights_the_tab_says_so_in_one_line(no_weights):
    status = layout_gcdp.gcdp_status()
    assert "\n" not in status and "untrained" in status.lower()
    assert "workbench toy train gcdp" in status
    _refused(
        lambda: layout_gcdp.text_to_image_and_layout("auto", PROMPT, steps=2), "workbench toy train gcdp"
    )
    _refused(
        lambda: layout_gcdp.layout_to_image("auto", PROMPT, layout_gcdp.DEFAULT_BOXES, steps=2),
        "no trained GCDP weights",
    )


def test_joint_mode_shows_the_image_and_its_layout_in_the_legend_colours():
    r = layout_gcdp.text_to_image_and_layout("dummy", PROMPT, steps=2, seed=3)
    assert r.image.shape == r.layout.shape == (256, 256, 3)
    assert r.image.dtype == r.layout.dtype == np.uint8
    palette = {*layout_gcdp.CLASS_COLOURS, (128, 128, 128)}
    assert {tuple(c) for c in r.layout.reshape(-1, 3)} <= palette
    assert "untrained" in r.info and "Legend" in r.info
    again = layout_gcdp.text_to_image_and_layout("dummy", PROMPT, steps=2, seed=3)
    assert np.array_equal(r.image, again.image) and np.array_equal(r.layout, again.layout)


def test_a_typed_layout_is_drawn_as_its_class_map():
    r = layout_gcdp.layout_to_image("dummy", PROMPT, "square 0.0 0.0 0.5 0.5\nstar 0.5 0.5 1 1", steps=2)
    assert r.image.shape == (256, 256, 3)
    assert tuple(r.layout[64, 64]) == _colour("square")  # inside the square's box
    assert tuple(r.layout[64, 192]) == _colour("background")  # in neither box
    assert _colour("star") in {tuple(c) for c in r.layout[128:, 128:].reshape(-1, 3)}
    assert "square" in r.info and "star" in r.info and "circle" not in r.info.split("\n\n")[0]


def test_the_agreement_number_is_high_for_a_scene_and_its_own_layout_only():
    from generators.layout.experiment import load_judge
    from toyworld.semantic import downsample_classes, semantic_maps
    from toyworld.world import ShapesWorld

    judge = load_judge("auto", required=False)
    if judge is None:
        pytest.skip("the toy judge is not trained here")
    batch = ShapesWorld(64).batch(seed=5, split="val", start=0, count=2, n_objects=2)
    layouts = downsample_classes(semantic_maps(batch.scenes, batch.masks), 4)  # (2, 16, 16)
    own = layout_gcdp.layout_agreement(judge, batch.images[0], layouts[0])
    other = layout_gcdp.layout_agreement(judge, batch.images[0], layouts[1])
    assert own > 0.8 and other < own - 0.3


def test_parse_boxes_reads_classes_and_boxes():
    boxes = layout_gcdp.parse_boxes("circle 0.1 0.2 0.5 0.6\n\n emblem, 0.5, 0.5, 0.9, 0.9 ")
    assert boxes == [("circle", (0.1, 0.2, 0.5, 0.6)), ("emblem", (0.5, 0.5, 0.9, 0.9))]


@pytest.mark.parametrize(
    "text, needles",
    [("", ["one box per line"]), ("circle 0 0 1", ["line 1", "5 items"]), ("dragon 0 0 1 1", ["dragon"]),
     ("circle 0 0 nan 1", ["finite"]), ("circle 0 0 2 1", ["[0, 1]"]), ("circle 0.5 0 0.5 1", ["x1 > x0"]),
     ("circle 0 0 1 1\n" * 9, ["9 boxes", "at most 8"]), ("circle 0 0 1 1" + "\n" * 40 + "star 0 0 1 1", ["lines", "at most 32"]),
     ("x" * 2000, ["boxes", "at most 1000"])],
)  # fmt: skip
def test_bad_boxes_are_refused(text, needles):
    _refused(lambda: layout_gcdp.parse_boxes(text), *needles)


@pytest.mark.parametrize(
    "kwargs, needles",
    [({"steps": 0}, ["steps", "1..100"]), ({"steps": 1000}, ["steps"]), ({"guidance": math.nan}, ["guidance"]),
     ({"guidance": 100}, ["guidance"]), ({"seed": -1}, ["seed"]), ({"prompt": HUGE}, ["prompt", "at most 500"]),
     ({"prompt": ""}, ["write a prompt"]), ({"model": "/etc/passwd"}, ["model"]),
     ({"temperature": -1}, ["temperature"])],
)  # fmt: skip
def test_joint_settings_are_bounded(kwargs, needles):
    args = {"model": "dummy", "prompt": PROMPT, "steps": 2, **kwargs}
    _refused(lambda: layout_gcdp.text_to_image_and_layout(**args), *needles)


def test_handlers_turn_refusals_into_one_line_gradio_errors(no_weights):
    import gradio as gr

    from apps import limits

    handler = limits.demo_handler(layout_gcdp.layout_to_image)
    with pytest.raises(gr.Error) as info:
        handler("auto", PROMPT, "circle 0 0 1 1", 2)
    assert "workbench toy train gcdp" in info.value.message and "\n" not in info.value.message
    with pytest.raises(gr.Error) as info:
        handler("dummy", PROMPT, "circle 0 0 1 1\n" * 9, 2)
    assert "at most 8" in info.value.message


def test_the_tab_is_in_the_layout_demo_and_takes_no_file():
    from apps import layout_demo

    config = layout_demo.build().get_config_file()
    types = {c["id"]: c.get("type") for c in config["components"]}
    apis = {d.get("api_name"): d for d in config["dependencies"]}
    for api in ("gcdp_joint", "gcdp_layout"):
        assert api in apis
        assert not any(types[i] in ("image", "imageeditor", "file") for i in apis[api]["inputs"])


# ------------------------------------------------------------------ models of colour layouts
@pytest.fixture
def colour_model(monkeypatch):
    """The tab's ``dummy`` model with 50 (shape, colour) classes."""
    from generators.layout.gcdp.testing import gcdp_pipeline_from_sd
    from workbench.dummy import dummy_sd_pipeline

    pipe = gcdp_pipeline_from_sd(dummy_sd_pipeline(seed=0, image_size=32), num_classes=50)
    monkeypatch.setattr(layout_gcdp, "_pipeline", lambda model: (pipe, False))


def test_parse_boxes_reads_an_optional_colour():
    boxes = layout_gcdp.parse_boxes("red circle 0.1 0.2 0.5 0.6\nblue emblem 0.5 0.5 0.9 0.9")
    assert boxes == [("red circle", (0.1, 0.2, 0.5, 0.6)), ("emblem", (0.5, 0.5, 0.9, 0.9))]
    _refused(lambda: layout_gcdp.parse_boxes("pink circle 0 0 1 1"), "line 1", "pink", "red")


def test_a_colour_model_draws_typed_colours_and_asks_for_missing_ones(colour_model):
    from toyworld.vocab import COLORS

    r = layout_gcdp.layout_to_image("dummy", PROMPT, "red square 0 0 0.5 0.5\nblue star 0.5 0.5 1 1", steps=2)
    assert tuple(r.layout[64, 64]) == tuple(round(255 * v) for v in COLORS["red"])  # the red square's colour
    assert "red square" in r.info and "blue star" in r.info
    _refused(
        lambda: layout_gcdp.layout_to_image("dummy", PROMPT, "square 0 0 0.5 0.5", steps=2),
        "colour",
        "square",
    )
    joint = layout_gcdp.text_to_image_and_layout("dummy", PROMPT, steps=2, seed=3)
    palette = {*layout_gcdp.COLOR_CLASS_COLOURS, (128, 128, 128)}
    assert {tuple(c) for c in joint.layout.reshape(-1, 3)} <= palette and "Legend" in joint.info
