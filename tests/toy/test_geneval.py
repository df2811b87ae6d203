import pytest

from toyworld.judge.geneval import score_prompt, summarize
from toyworld.judge.model import Detection


def det(shape, color, box):
    return Detection(shape, color, "large", "plain", None, box, 0.9)


LEFT = (0.0, 0.35, 0.3, 0.65)
RIGHT = (0.7, 0.35, 1.0, 0.65)


def test_correct_composition():
    r = score_prompt(
        "a red circle on the left and a blue square on the right",
        [det("circle", "red", LEFT), det("square", "blue", RIGHT)],
    )
    assert r.correct and r.objects and r.colors and r.positions and r.count


def test_swapped_colours_fail_binding_not_presence():
    r = score_prompt(
        "a red circle and a blue square", [det("circle", "blue", LEFT), det("square", "red", RIGHT)]
    )
    assert r.objects and not r.colors and not r.correct


def test_wrong_position_and_extra_object():
    r = score_prompt("a red circle on the right", [det("circle", "red", LEFT), det("star", "red", RIGHT)])
    assert r.objects and r.colors and not r.positions and not r.count


def test_missing_object_and_summary():
    r1 = score_prompt("a red circle and a blue square", [det("circle", "red", LEFT)])
    r2 = score_prompt("a red circle", [det("circle", "red", LEFT)])
    assert not r1.objects and r2.correct
    s = summarize([r1, r2])
    assert s["overall"] == 0.5 and s["two_object.correct"] == 0.0 and s["single_object.correct"] == 1.0


def test_prompt_outside_the_grammar_is_an_error():
    with pytest.raises(ValueError, match="names no shapes-world object"):
        score_prompt("a photo of a cat", [])
