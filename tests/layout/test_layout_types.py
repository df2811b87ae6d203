"""The layout types: validation errors, masks, JSON round trip, prompts."""

from __future__ import annotations

import pytest
import torch

from generators.layout import BoxLayout, LayoutError, SemanticLayout
from generators.layout.layout import phrase_in_prompt

from .conftest import PROMPT


def test_valid_layout_masks_and_round_trip(two_boxes):
    masks = two_boxes.region_masks(8, 8)  # (2, 8, 8)
    assert masks.shape == (2, 8, 8)
    assert masks[0, :, :4].sum() == 4 * 4 and masks[0, :, 4:].sum() == 0  # left half, rows 2..5
    assert masks[1, 2:6, 4:].all() and not masks[1, 0].any()
    again = BoxLayout(**two_boxes.to_json())
    assert again == two_boxes
    two_boxes.check_prompt(PROMPT)


@pytest.mark.parametrize(
    ("boxes", "phrases", "match"),
    [
        ([(-0.1, 0.0, 0.5, 0.5)], ["a red circle"], "outside the image"),
        ([(0.2, 0.2, 1.2, 0.5)], ["a red circle"], "outside the image"),
        ([(0.3, 0.3, 0.3, 0.6)], ["a red circle"], "zero area"),
        ([(0.5, 0.5, 0.2, 0.6)], ["a red circle"], "zero area"),
        ([(0.0, 0.0, 0.4, 0.4), (0.6, 0.6, 1.0, 1.0)], ["a red circle"], "2 boxes but only 1 phrases"),
        ([(0.0, 0.0, 0.4, 0.4)], ["a red circle", "a blue square"], "have no box"),
        (
            [(0.0, 0.0, 0.5, 0.5), (0.02, 0.02, 0.5, 0.5)],
            ["a red circle", "a blue square"],
            "overlap with IoU",
        ),
        ([(0.0, 0.0, 0.5, 0.5)], ["  "], "empty"),
        ([(0.0, 0.0, 0.5)], ["a red circle"], "four numbers"),
    ],
)
def test_bad_layouts_raise_clear_errors(boxes, phrases, match):
    with pytest.raises(LayoutError, match=match):
        BoxLayout(phrases=phrases, boxes=boxes)


def test_overlap_limit_is_configurable():
    boxes = [(0.0, 0.0, 0.5, 0.5), (0.1, 0.0, 0.6, 0.5)]  # IoU 0.67
    BoxLayout(phrases=["a", "b"], boxes=boxes)
    with pytest.raises(LayoutError, match="max_overlap 0.5"):
        BoxLayout(phrases=["a", "b"], boxes=boxes, max_overlap=0.5)


def test_reserved_areas_stay_free():
    with pytest.raises(LayoutError, match="reserved"):
        BoxLayout(phrases=["a red circle"], boxes=[(0.0, 0.0, 0.5, 0.5)], reserved=[(0.0, 0.0, 1.0, 0.2)])


def test_phrases_absent_from_prompt(two_boxes):
    with pytest.raises(LayoutError, match=r"\['a blue square'\] do not occur in the prompt"):
        two_boxes.check_prompt("a red circle on the left and a green square on the right")
    assert phrase_in_prompt("a red circle", "A  RED circle here")
    assert not phrase_in_prompt("a red circle", "a red circles")  # whole words only


def test_semantic_layout():
    lm = torch.zeros(16, 16, dtype=torch.long)
    lm[2:6, 1:5] = 1
    lm[8:14, 9:15] = 2
    lay = SemanticLayout(phrases=["a red circle", "a blue square"], label_map=lm)
    assert lay.boxes[0] == (1 / 16, 2 / 16, 5 / 16, 6 / 16)
    masks = lay.region_masks(8, 8)  # nearest resampling
    assert masks.shape == (2, 8, 8) and masks[0].sum() == 4 and masks[1].sum() == 9
    assert lay.as_boxes().phrases == lay.phrases
    with pytest.raises(LayoutError, match="more regions than phrases"):
        SemanticLayout(phrases=["a red circle"], label_map=lm)
    with pytest.raises(LayoutError, match="zero area"):
        SemanticLayout(phrases=["a", "b", "c"], label_map=lm)
    with pytest.raises(LayoutError, match="integer tensor"):
        SemanticLayout(phrases=["a"], label_map=torch.zeros(4, 4))


def test_semantic_layout_from_world_masks():
    from toyworld.world import ShapesWorld

    batch = ShapesWorld(64).batch(0, "test", 0, 1, n_objects=2)
    scene = batch.scenes[0]
    lay = SemanticLayout.from_masks([o.phrase(False) for o in scene.objects], batch.masks[0])
    lay.check_prompt(scene.caption())
    for (x0, y0, x1, y1), obj in zip(lay.boxes, scene.objects):
        cx, cy = obj.center
        assert x0 <= cx <= x1 and y0 <= cy <= y1
