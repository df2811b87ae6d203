"""The toy-world benchmark: compositions, judging, region crops, the experiment end to end."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from generators.multiconcept.evaluate import crop_box, judge_composition, judge_prompt, mask_box, matches
from generators.multiconcept.toy_concepts import Composition, ToyConcept, concept_pool, sample_compositions


@dataclass
class FakeDetection:
    shape: str
    color: str
    texture: str
    entity: str | None
    box: tuple[float, float, float, float]
    score: float

    @property
    def position(self) -> str:
        from toyworld.scene import ObjectSpec

        return ObjectSpec(self.shape, self.color, box=self.box).position


def test_compositions_are_distinct_and_deterministic():
    a = sample_compositions(np.random.default_rng(3), 20, 2)
    b = sample_compositions(np.random.default_rng(3), 20, 2)
    assert a == b
    for comp in a + sample_compositions(np.random.default_rng(4), 10, 3):
        shapes = [c.shape for c in comp.concepts]
        colors = [c.color for c in comp.concepts]
        assert len(set(shapes)) == len(shapes) and len(set(colors)) == len(colors)
        assert len(comp.boxes) == len(comp.concepts)
    assert len(concept_pool()) == 6 * 8 * 3 + 32
    with pytest.raises(ValueError, match="2 or 3"):
        sample_compositions(np.random.default_rng(0), 1, 4)
    from toyworld.entities import BUCKETS

    unseen = sample_compositions(np.random.default_rng(5), 10, 2, entity_prob=1.0, entity_buckets=["unseen"])
    assert {c.entity for comp in unseen for c in comp.concepts} <= set(BUCKETS["unseen"])
    with pytest.raises(ValueError, match="entity_buckets"):
        sample_compositions(np.random.default_rng(0), 1, 2, entity_buckets=["famous"])
    ent = ToyConcept.from_entity("zorvik")
    assert ent.prompt == "a zorvik emblem" and ent.render(32)[1].any()


def test_class_words_leave_the_concepts_appearance_to_the_references():
    full = sample_compositions(np.random.default_rng(3), 6, 2, entity_prob=0.5)
    named = sample_compositions(np.random.default_rng(3), 6, 2, entity_prob=0.5, words="class")
    # the same draws, named differently
    assert [[(c.shape, c.color, c.texture, c.entity) for c in comp.concepts] for comp in full] == [
        [(c.shape, c.color, c.texture, c.entity) for c in comp.concepts] for comp in named
    ]
    assert [c.cells for c in full] == [c.cells for c in named]
    for comp in named:
        for concept in comp.concepts:
            assert concept.prompt == ("an emblem" if concept.entity else f"a large {concept.shape}")
            assert concept.color not in comp.prompt and concept.prompt in comp.prompt
            if concept.entity:
                assert concept.entity not in comp.prompt
    assert any(c.entity for comp in named for c in comp.concepts)
    same = ToyConcept("circle", "red", "striped", words="class")
    assert torch.equal(same.render(32)[0], ToyConcept("circle", "red", "striped").render(32)[0])
    with pytest.raises(ValueError, match="words"):
        sample_compositions(np.random.default_rng(0), 1, 2, words="some")


def test_judging_matches_each_concept_once():
    comp = Composition((ToyConcept("circle", "red", "striped"), ToyConcept("star", "blue")), (3, 5))
    left, right = comp.boxes
    dets = [
        FakeDetection("circle", "red", "striped", None, left, 0.9),
        FakeDetection("star", "blue", "plain", None, (0.0, 0.0, 0.3, 0.3), 0.8),  # found, wrong place
    ]
    verdicts = judge_composition(dets, comp, ["shape", "color", "texture"])
    assert [v.found for v in verdicts] == [True, True] and [v.position for v in verdicts] == [True, False]
    assert not judge_composition(dets[:1], comp, ["shape", "color"])[1].found
    plain = FakeDetection("circle", "red", "plain", None, left, 0.9)
    assert not matches(plain, comp.concepts[0], ["shape", "color", "texture"])
    assert matches(plain, comp.concepts[0], ["shape", "color"])
    entity = ToyConcept.from_entity("zorvik")
    assert matches(FakeDetection("x", "y", "plain", "zorvik", left, 1.0), entity, ["shape"])
    # one detection cannot serve two concepts
    twins = Composition((ToyConcept("circle", "red"), ToyConcept("circle", "red")), (3, 5))
    assert [v.found for v in judge_composition([plain], twins, ["shape", "color"])] == [True, False]


def test_the_prompt_score_reads_only_what_the_text_says():
    attrs = ["shape", "color", "texture"]
    full = Composition((ToyConcept("circle", "red", "striped"), ToyConcept.from_entity("zorvik")), (3, 5))
    cls = Composition(
        (ToyConcept("circle", "red", "striped", words="class"), ToyConcept.from_entity("zorvik", "class")),
        (3, 5),
    )
    left, right = full.boxes
    blue_circle = FakeDetection("circle", "blue", "plain", None, left, 0.9)
    other_emblem = FakeDetection("square", "green", "plain", "plimble", right, 0.8)
    # class words ("a large circle on the left and an emblem on the right"): any circle, any emblem
    assert judge_prompt([blue_circle, other_emblem], cls, attrs)
    # full words name the colour, texture and entity: the same image does not show the text
    assert not judge_prompt([blue_circle, other_emblem], full, attrs)
    red = FakeDetection("circle", "red", "striped", None, left, 0.9)
    zorvik = FakeDetection("star", "red", "plain", "zorvik", right, 0.8)
    assert judge_prompt([red, zorvik], full, attrs) and judge_prompt([red, zorvik], cls, attrs)
    # the place the prompt names counts; one detection serves one object; an emblem is not "a circle"
    assert not judge_prompt([red, FakeDetection("star", "red", "plain", "zorvik", left, 0.8)], cls, attrs)
    assert not judge_prompt([red], cls, attrs)
    emblem_circle = FakeDetection("circle", "red", "plain", "zorvik", left, 0.9)
    assert not judge_prompt([emblem_circle, other_emblem], cls, attrs)


def test_paired_standard_error():
    from generators.multiconcept.scoring import paired_se

    a = [{"composition": c, "image": 0, "concepts": 2, "clip_t": v} for c, v in enumerate([3.0, 5.0, 4.0])]
    b = [{"composition": c, "image": 0, "concepts": 2, "clip_t": v} for c, v in enumerate([1.0, 2.0, 4.0])]
    assert paired_se(a, b, "clip_t") == pytest.approx(np.std([2.0, 3.0, 0.0], ddof=1) / np.sqrt(3))
    assert paired_se(a[:1], b[:1], "clip_t") is None
    with pytest.raises(ValueError, match="do not pair"):
        paired_se(a, b[::-1], "clip_t")


def test_region_crops():
    image = torch.zeros(3, 64, 64)
    image[:, 10:20, 30:40] = 1.0
    mask = image[0] > 0
    box = mask_box(mask)
    assert box == (30 / 64, 10 / 64, 40 / 64, 20 / 64)
    crop = crop_box(image, box, 16, margin=0.0)
    assert crop.shape == (3, 16, 16) and crop.mean() > 0.9


@pytest.mark.parametrize("words", ["full", "class"])
def test_experiment_end_to_end(tmp_path, words):
    from toyworld.vocab import COLOR_NAMES
    from workbench.config import load_config
    from workbench.runs import run_experiment

    cfg = load_config(
        "examples/multiconcept_smoke.yaml",
        [
            "benchmark.pairs=1",
            "benchmark.triples=1",
            "benchmark.images_per_composition=2",
            "score.grid_compositions=2",
            f"benchmark.concept_words={words}",
        ],
    )
    run_dir = run_experiment(cfg, output_dir=tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for method in ("freecustom", "text", "collage"):
        assert metrics[f"{method}.pairs.images"] == 2 and metrics[f"{method}.triples.images"] == 2
        assert 0 <= metrics[f"{method}.all.concept_found"] <= 1
        assert np.isfinite(metrics[f"{method}.all.clip_t"]) and np.isfinite(metrics[f"{method}.all.clip_i"])
        assert metrics[f"{method}.seconds_per_image"] > 0
    assert "claims.both_found" in metrics and "claims.time_ratio_vs_text" in metrics
    assert "claims.prompt_found_minus_text" in metrics and metrics["claims.clip_t_minus_text_se"] >= 0
    assert 0 <= metrics["freecustom.pairs.prompt_found"] <= 1
    scores = json.loads((run_dir / "outputs" / "scores.json").read_text())
    assert len(scores["freecustom"]) == 4 and scores["freecustom"][0]["prompt"]
    named_colours = {c for r in scores["text"] for c in COLOR_NAMES if f" {c} " in f" {r['prompt']} "}
    assert bool(named_colours) == (words == "full")  # class words leave the colours to the references
    assert len(list((run_dir / "outputs" / "freecustom").glob("*.png"))) == 4
    html = (run_dir / "report.html").read_text()
    assert "Claims (two-concept compositions)" in html and "Per method" in html and "collage" in html


@pytest.mark.parametrize("name", ["multiconcept_smoke", "multiconcept_toy", "multiconcept_sd15"])
def test_example_configs_validate(name):
    from workbench.config import load_config

    cfg = load_config(f"examples/{name}.yaml")
    assert cfg.experiment == "multiconcept" and cfg.freecustom.layers == ["freecustom"]


@pytest.mark.parametrize(
    "name",
    [
        "generators.multiconcept",
        "generators.multiconcept.pipeline_multiconcept",
        "generators.multiconcept.toy_concepts",
    ],
)
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


class FakeJudge:
    """Returns the given detections for every image."""

    def __init__(self, detections):
        self.detections = detections

    def detect(self, images):
        return [list(self.detections) for _ in range(images.shape[0])]


def test_automatic_masks():
    from generators.multiconcept.concept import ConceptError
    from generators.multiconcept.experiment import _references
    from generators.multiconcept.masks import foreground_mask, judge_mask

    toy = ToyConcept("star", "blue", "striped")
    image, truth = toy.render(64)
    fg = foreground_mask(image)
    iou = (fg & truth).sum() / (fg | truth).sum()
    assert iou > 0.8
    left = FakeDetection("circle", "red", "plain", None, (0.0, 0.0, 0.5, 1.0), 0.9)
    right = FakeDetection("star", "blue", "striped", None, (0.5, 0.0, 1.0, 1.0), 0.5)
    two = torch.zeros(3, 64, 64)
    two[:, 20:40, 5:25] = 1.0
    two[:, 20:40, 40:60] = 1.0
    right_square = torch.zeros(64, 64, dtype=torch.bool)
    right_square[20:40, 40:60] = True
    # the detection that matches the prompt (not the most confident), its box cut to the foreground
    assert judge_mask(two, FakeJudge([left, right]), "a large striped blue star").equal(right_square)
    left_square = torch.zeros(64, 64, dtype=torch.bool)
    left_square[20:40, 5:25] = True
    assert judge_mask(two, FakeJudge([left, right])).equal(left_square)  # no prompt: the most confident
    assert judge_mask(image, FakeJudge([])).equal(fg)  # nothing detected: the foreground
    with pytest.raises(ConceptError, match="no object"):
        judge_mask(torch.zeros(3, 32, 32), FakeJudge([]))
    comp = Composition((toy, ToyConcept("circle", "red")), (3, 5))
    refs = _references(
        [comp],
        64,
        "judge",
        FakeJudge([FakeDetection("star", "blue", "striped", None, (0.2, 0.2, 0.8, 0.8), 0.9)]),
    )
    assert set(refs) == set(comp.concepts) and all(m.any() for _, m in refs.values())
