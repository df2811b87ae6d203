"""The Gradio demo's handlers (no browser) and the ``workbench multiconcept`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from .conftest import PROMPT


def test_the_demo_defaults_to_the_cross_image_toy_sd():
    from apps.multiconcept_demo import default_model_choice
    from workbench.loading import resolve_model

    assert default_model_choice("toy") == "toy" and default_model_choice("dummy") == "dummy"
    assert resolve_model("toy-ref", kind="sd").available  # shipped: FreeCustom's toy-world model
    assert default_model_choice("auto") == "toy-ref"


def test_demo_builds_and_composes():
    import apps.multiconcept_demo as demo
    from apps import DEMOS

    assert DEMOS.get("multiconcept").build is demo.build
    assert type(demo.build()).__name__ == "Blocks"
    circle, p1 = demo.pick_toy_concept("a large red circle", 64)
    star, p2 = demo.pick_toy_concept("a large blue star", 64)
    image, mask = demo.editor_to_image_mask(circle)
    assert image.shape == (3, 64, 64) and 0 < mask.float().mean() < 0.3
    filled = demo.auto_mask({"background": star["background"], "layers": [], "composite": None}, p2)
    assert demo.editor_to_image_mask(filled)[1].any()
    assert (
        demo.editor_to_image_mask({"background": star["background"], "layers": []})[1] is None
    )  # nothing painted
    r = demo.compose("dummy", PROMPT, [(circle, p1), (filled, p2), (None, "")], steps=2, n_images=2)
    assert len(r.freecustom) == len(r.text) == len(r.collage_images) == 2
    assert r.freecustom[0].shape == (32, 32, 3) and r.freecustom[0].dtype == np.uint8
    assert r.collage.shape == (32, 32, 3) and "2 concept(s)" in r.info
    with pytest.raises(ValueError, match="at least one concept"):
        demo.compose("dummy", PROMPT, [(None, "")], steps=2)
    with pytest.raises(ValueError, match="no concept prompt"):
        demo.compose("dummy", PROMPT, [(circle, " ")], steps=2)
    with pytest.raises(ValueError, match="target prompt"):
        demo.compose("dummy", "", [(circle, p1)], steps=2)
    with pytest.raises(ValueError, match="unknown toy concept"):
        demo.pick_toy_concept("a unicorn")


def test_cli(tmp_path, capsys):
    from generators.multiconcept.toy_concepts import ToyConcept
    from workbench.cli import main
    from workbench.commands import COMMANDS
    from workbench.io import save_image
    from workbench.plugins import load_plugins

    load_plugins()
    assert "multiconcept" in COMMANDS
    image, mask = ToyConcept("circle", "red").render(40)
    save_image(tmp_path / "ref.png", image)
    save_image(tmp_path / "mask.png", mask.float()[None].expand(3, -1, -1))
    star, _ = ToyConcept("star", "blue").render(40)
    save_image(tmp_path / "star.png", star)
    out = tmp_path / "out"
    args = [
        "multiconcept",
        PROMPT,
        "--concept",
        "a large red circle",
        str(tmp_path / "ref.png"),
        str(tmp_path / "mask.png"),
    ]
    args += ["--concept", "a large blue star", str(tmp_path / "star.png"), "auto", "--steps", "2", "--n", "2"]
    assert main([*args, "--baselines", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == [
        "collage-0.png",
        "collage-1.png",
        "collage.png",
        "freecustom-0.png",
        "freecustom-1.png",
        "text-0.png",
        "text-1.png",
    ]
    settings = json.loads((out / "settings.json").read_text())
    assert settings["concepts"][1]["mask"] == "auto" and settings["steps"] == 2
    empty = torch.zeros(3, 40, 40)
    save_image(tmp_path / "blank.png", empty)
    assert (
        main(
            [
                "multiconcept",
                PROMPT,
                "--concept",
                "a dog",
                str(tmp_path / "ref.png"),
                str(tmp_path / "blank.png"),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "the mask is empty" in capsys.readouterr().err


def test_picks_write_the_class_worded_target_prompt_and_the_judge_counts():
    from apps import multiconcept_demo as demo

    prompt = demo.target_prompt(["a large red circle", "a large blue star", None])
    assert "circle" in prompt and "star" in prompt and "left" in prompt and "right" in prompt
    assert "red" not in prompt and "blue" not in prompt  # colours are in the references alone
    circle, p1 = demo.pick_toy_concept("a large red circle", 64)
    star, p2 = demo.pick_toy_concept("a large blue star", 64)
    assert (p1, p2) == ("a large circle", "a large star")
    r = demo.compose(
        "dummy", prompt, [(circle, p1), (star, p2)], steps=2, baselines=False,
        picks=["a large red circle", "a large blue star"],
    )  # fmt: skip
    if demo._judge() is not None:
        assert "Judge: every concept found" in r.info and "freecustom" in r.info
