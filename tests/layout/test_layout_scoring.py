"""Judge-based scoring of layouts with synthetic detections."""

from __future__ import annotations

from generators.layout.scoring import RequestedObject, score_image, summarize_scores
from toyworld.judge import Detection

PROMPT = "a large red circle on the left and a large blue square on the right"
REQ = [
    RequestedObject("circle", "red", (0.02, 0.35, 0.32, 0.65)),
    RequestedObject("square", "blue", (0.68, 0.35, 0.98, 0.65)),
]


def det(shape, color, box):
    return Detection(shape=shape, color=color, size="large", texture="plain", entity=None, box=box, score=0.9)


def test_perfect_and_broken_images():
    perfect = score_image(PROMPT, REQ, [det("square", "blue", REQ[1].box), det("circle", "red", REQ[0].box)])
    assert perfect.all_in_box and perfect.mean_iou == 1.0 and perfect.relations == 1.0 and perfect.count
    assert perfect.geneval_correct
    swapped = score_image(PROMPT, REQ, [det("circle", "red", REQ[1].box), det("square", "blue", REQ[0].box)])
    assert (
        swapped.all_present
        and not swapped.all_in_box
        and swapped.relations == 0.0
        and swapped.mean_iou == 0.0
    )
    wrong_color = score_image(
        PROMPT, REQ, [det("circle", "green", REQ[0].box), det("square", "blue", REQ[1].box)]
    )
    assert wrong_color.found == [False, True] and not wrong_color.all_present and wrong_color.mean_iou == 0.5
    empty = score_image(PROMPT, REQ, [])
    assert not empty.all_present and empty.relations == 0.0 and empty.mean_iou_found is None
    summary = summarize_scores([perfect, swapped, wrong_color, empty])
    assert summary["all_in_box"] == 0.25 and summary["images"] == 4
    assert summary["mean_iou_found"] == (1.0 + 0.0 + 1.0) / 3
