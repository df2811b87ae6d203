"""Planners: the shapes grammar round trip, the LLM planner's JSON handling."""

from __future__ import annotations

import json

import pytest

from generators.layout import LayoutError
from generators.layout.planner import PLANNERS, LLMPlanner, ShapesGrammarPlanner
from toyworld.world import ShapesWorld


def test_round_trip_on_shapes_world_prompts():
    world, planner = ShapesWorld(64), ShapesGrammarPlanner()
    for i in range(40):
        scene = world.scene(7, "test", i, n_objects=(1, 4), entity_prob=0.2)
        caption = scene.caption()
        layout = planner.plan(caption)
        assert layout.phrases == [o.phrase(with_position=False) for o in scene.objects]
        assert planner.region_prompts(caption) == [o.phrase() for o in scene.objects]
        for box, obj in zip(layout.boxes, scene.objects):
            cx, cy = obj.center  # the planned box holds the true centre, in the same grid cell
            assert box[0] <= cx <= box[2] and box[1] <= cy <= box[3]
            assert ShapesGrammarPlanner().objects(caption)[scene.objects.index(obj)].cell == _cell(obj)


def _cell(obj):
    from toyworld.vocab import POSITIONS

    return POSITIONS.index(obj.position)


def test_unplaced_objects_take_free_cells_and_errors():
    layout = ShapesGrammarPlanner().plan("a red circle, a blue star and a small green square on the left")
    assert layout.phrases == ["a red circle", "a blue star", "a small green square"]
    assert [round((b[0] + b[2]) / 2, 3) for b in layout.boxes] == [0.833, 0.5, 0.167]  # right, centre, left
    with pytest.raises(LayoutError, match="same place"):
        ShapesGrammarPlanner().plan("a red circle on the left and a blue star on the left")
    with pytest.raises(LayoutError, match="found no object"):
        ShapesGrammarPlanner().plan("a photo of the sky")
    assert PLANNERS.get("shapes") is ShapesGrammarPlanner


def test_llm_planner_parses_json_and_validates():
    seen = []

    def complete(text):
        seen.append(text)
        return 'Sure: [{"phrase": "a cat", "box": [0.1, 0.2, 0.5, 0.9]}, {"phrase": "a dog", "box": [0.5, 0.2, 0.9, 0.9]}]'

    layout = LLMPlanner(complete).plan("a cat next to a dog")
    assert layout.phrases == ["a cat", "a dog"] and layout.boxes[1] == (0.5, 0.2, 0.9, 0.9)
    assert "a cat next to a dog" in seen[0]
    bad = json.dumps([{"phrase": "a cat", "box": [0.1, 0.2, 1.5, 0.9]}])
    with pytest.raises(LayoutError, match="outside the image"):
        LLMPlanner(lambda _: bad).plan("a cat")
    with pytest.raises(LayoutError, match="no JSON list"):
        LLMPlanner(lambda _: "I cannot").plan("a cat")
    with pytest.raises(LayoutError, match="do not occur"):
        LLMPlanner(lambda _: '[{"phrase": "a bird", "box": [0, 0, 1, 1]}]').plan("a cat")
