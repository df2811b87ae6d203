"""The Gradio demo's handlers (no browser) and the ``workbench layout`` commands."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from generators.layout import LayoutError

PROMPT = "a large red circle on the left and a large blue star on the right"


def test_demo_handlers():
    from apps.layout_demo import build, generate_layout, plan_rows, preview_layout, rows_to_layout

    rows = plan_rows(PROMPT)
    assert [r[0] for r in rows] == ["a large red circle", "a large blue star"]
    assert preview_layout(rows).shape == (256, 256, 3)
    result = generate_layout("dummy", PROMPT, rows, "box_guidance", steps=2)
    assert result.boxed.shape == (256, 256, 3) and result.image.shape == (32, 32, 3)
    assert [c for _, c in result.attention] == ["a large red circle", "a large blue star"]
    assert isinstance(result.attention[0][0], np.ndarray)
    regions = generate_layout("dummy", PROMPT, rows + [["", None, None, None, None]], "regions", steps=1)
    assert regions.attention == [] and "has none" in regions.info
    with pytest.raises(LayoutError, match="outside the image"):
        rows_to_layout([["a large red circle", 0.1, 0.1, 1.4, 0.5]])
    with pytest.raises(LayoutError, match="must be numbers"):
        rows_to_layout([["a large red circle", "left", 0.1, 0.4, 0.5]])
    with pytest.raises(LayoutError, match="do not occur in the prompt"):
        generate_layout("dummy", "a green square", rows, "stock", steps=1)
    assert build() is not None


def test_demo_boxes_from_drawn_layers_and_product_poster():
    from PIL import Image

    from apps.layout_demo import boxes_from_drawing, make_poster

    first, second = np.zeros((256, 256, 4), np.uint8), np.zeros((256, 256, 4), np.uint8)
    first[64:128, 0:128, 3] = 255  # a stroke over the left middle
    second[32:224, 160:256, 3] = 255
    empty = np.zeros((256, 256, 4), np.uint8)
    rows = boxes_from_drawing({"layers": [first, empty, second]}, plan_rows_of(PROMPT))
    assert rows == [
        ["a large red circle", 0.0, 0.25, 0.5, 0.5],
        ["a large blue star", 0.625, 0.125, 1.0, 0.875],
    ]
    rows = boxes_from_drawing({"layers": [first, second, first]}, [["a large red circle", 0, 0, 1, 1]])
    assert [r[0] for r in rows] == ["a large red circle", "", ""]  # new rows wait for their phrase
    with pytest.raises(LayoutError, match="nothing drawn"):
        boxes_from_drawing({"layers": [empty]}, [])
    with pytest.raises(LayoutError, match="nothing drawn"):
        boxes_from_drawing(None, [])

    product = Image.new("RGBA", (16, 16), (255, 255, 255, 255))
    poster = make_poster("dummy", product, "a blue background", "Sale\n\n", steps=1)
    assert poster.shape == (256, 256, 3)
    with pytest.raises(ValueError, match="upload a product"):
        make_poster("dummy", None, "a blue background", "Sale", steps=1)
    with pytest.raises(ValueError, match="at least one tagline"):
        make_poster("dummy", product, "a blue background", " \n ", steps=1)
    with pytest.raises(LayoutError, match="prompt is empty"):
        make_poster("dummy", product, "", "Sale", steps=1)


def plan_rows_of(prompt):
    from apps.layout_demo import plan_rows

    return plan_rows(prompt)


def _cli(argv):
    from generators.layout.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_plan_and_generate(tmp_path, capsys):
    assert _cli(["layout", "plan", PROMPT]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["phrases"] == ["a large red circle", "a large blue star"] and len(out["boxes"]) == 2
    assert _cli(["layout", "plan", "a red circle on the left and a blue star on the left"]) == 2
    assert "same place" in capsys.readouterr().err
    layout = tmp_path / "layout.json"
    layout.write_text(json.dumps({"phrases": ["a large red circle"], "boxes": [[0.1, 0.1, 0.5, 0.5]]}))
    target = tmp_path / "out.png"
    code = _cli(
        [
            "layout",
            "generate",
            PROMPT,
            str(target),
            "--model",
            "dummy",
            "--steps",
            "1",
            "--layout",
            str(layout),
            "--boxes",
        ]
    )
    assert code == 0 and target.is_file() and (tmp_path / "out_boxes.png").is_file()


def test_cli_poster_keeps_the_product(tmp_path, capsys):
    from PIL import Image

    product = tmp_path / "product.png"
    Image.new("RGBA", (16, 16), (255, 255, 255, 255)).save(product)
    target = tmp_path / "poster.png"
    argv = ["layout", "poster", str(product), "a blue background", str(target), "--tagline", "Sale"]
    assert _cli(argv + ["--model", "dummy", "--steps", "1", "--band-height", "0.4"]) == 0
    poster = np.asarray(Image.open(target))
    assert poster.shape[:2] == (32, 32) and (poster[18:27, 12:21] == 255).all()
    (tmp_path / "broken.png").write_bytes(b"not a png")
    argv[2] = str(tmp_path / "broken.png")
    assert _cli(argv + ["--model", "dummy", "--steps", "1"]) == 2
    assert "cannot read the product image" in capsys.readouterr().err
