"""Study 2 (watermarks through every generator): its measures on hand-made scores, its scenes and the inputs
each generator gets, its tables over seeds, its config; end to end on random-weight models with a resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from apps.studies.watermarks.measures import detection, matched_quality, paired_differences
from apps.studies.watermarks.report import clean_table, disturbance_rows, matched_rows
from apps.studies.watermarks.scenes import INPUTS, conditions, study_scenes
from workbench.config import ConfigError, load_config
from workbench.runs import run_experiment

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "study_watermarks.yaml"

TINY = [
    "models.sd=dummy",
    "models.clip=dummy",
    "runtime.device=cpu",
    "seeds=2",
    "scenes.prompts=1",
    "scenes.views_per_entity=1",
    "generation.num_inference_steps=2",
    "generators=[stock, regions, retrieval_blend]",
    "generator_options={retrieval_blend: {blend: {inversion_steps: 0}}}",
    "watermarks=[dwtDct, treering, gaussian_shading]",
    "watermark_options={gaussian_shading: {hw_factor: 4}}",
    "attacks=[{attack: jpeg, strengths: [0.5]}, {attack: blur, strengths: [0.25, 0.5]}]",
]


def test_detection_thresholds_on_the_null_and_reads_the_bits():
    null = torch.tensor([0.5, 0.4, 0.6, 0.55])
    out = detection(
        null,
        torch.tensor([0.9, 0.6, 0.61, 0.3]),
        torch.tensor([[1.0, 1.0], [1.0, 0.0]] * 2),
        torch.ones(2),
        0.01,
    )
    # fewer than 1 / FPR null scores: the threshold is their maximum, and a score must exceed it
    assert out["threshold"] == pytest.approx(0.6) and out["tpr"] == pytest.approx(0.5)
    assert out["bit_accuracy"] == pytest.approx(0.75)
    zero_bit = detection(null, torch.tensor([1.0, 2.0]), torch.zeros(2, 0), torch.zeros(0), 0.01)
    assert zero_bit["bit_accuracy"] is None and zero_bit["tpr"] == 1.0 and zero_bit["auc"] == 1.0


def test_matched_quality_interpolates_along_the_strength_curve():
    rows = [
        {"attack": "none", "strength": 0.0, "ssim": 1.0, "tpr": 1.0, "bit_accuracy": None},
        {"attack": "blur", "strength": 0.25, "ssim": 0.9, "tpr": 0.5, "bit_accuracy": None},
        {"attack": "blur", "strength": 0.5, "ssim": 0.7, "tpr": 0.0, "bit_accuracy": None},
        {"attack": "jpeg", "strength": 0.5, "ssim": 0.96, "tpr": 0.0, "bit_accuracy": None},
    ]
    out = {r["attack"]: r for r in matched_quality(rows, [0.95, 0.8])}
    assert out["blur"]["tpr@ssim0.95"] == pytest.approx(0.75) and out["blur"]["tpr@ssim0.8"] == pytest.approx(
        0.25
    )
    assert out["jpeg"]["tpr@ssim0.8"] is None  # its curve never reaches SSIM 0.8
    assert out["blur"]["acc@ssim0.95"] is None  # a zero-bit watermark has no bit accuracy


def test_paired_differences_need_common_seeds():
    assert paired_differences({0: 1.0, 2: 0.5}, {0: 0.25, 1: 0.0, 2: 0.5}) == [0.75, 0.0]
    with pytest.raises(ValueError, match="no seed"):
        paired_differences({0: 1.0}, {1: 1.0})


def test_scenes_give_every_generator_its_inputs():
    from generators.layout.planner import ShapesGrammarPlanner

    scenes = study_scenes(3, 4)
    assert [s.prompt for s in scenes] == [s.prompt for s in study_scenes(3, 4)]
    assert [s.prompt for s in scenes] != [s.prompt for s in study_scenes(4, 4)]
    for s in scenes:
        entity, other = s.composition.concepts
        assert entity.entity == s.entity and other.entity is None
        assert entity.shape != other.shape and entity.color != other.color
        assert len(ShapesGrammarPlanner().plan(s.prompt).boxes) == 2
    cond = conditions(tuple(INPUTS - {"neighbours"}), scenes, 32)
    assert all(len(v) == 4 for v in cond.values())
    assert all(box is not None for box in cond["target_boxes"])
    assert cond["concepts"][0][0].image.shape == (3, 32, 32) and cond["concepts"][0][0].mask.any()
    with pytest.raises(ValueError, match="neighbours"):
        conditions(("neighbours",), scenes, 32)
    with pytest.raises(ValueError, match="cannot build"):
        conditions(("depth_maps",), scenes, 32)


def _rows(seed: int, generator: str, tpr: float, attacked: float) -> list[dict]:
    base = {"seed": seed, "generator": generator, "watermark": "treering"}
    return [
        {**base, "attack": "none", "strength": 0.0, "tpr": tpr, "bit_accuracy": None, "auc": tpr, "ssim": 1.0,
         "mark_psnr": 30.0, "mark_ssim": 0.9},
        {**base, "attack": "jpeg", "strength": 0.5, "tpr": attacked, "bit_accuracy": None, "auc": 0.5, "ssim": 0.8},
    ]  # fmt: skip


def test_tables_over_seeds_and_against_stock():
    rows = [
        *_rows(0, "stock", 1.0, 0.5),
        *_rows(1, "stock", 0.5, 0.5),
        *_rows(0, "regions", 0.25, 0.0),
        *_rows(1, "regions", 0.5, 0.25),
    ]
    table = {r["generator"]: r for r in clean_table(rows, ["stock", "regions"], ["treering"])}
    assert table["stock"]["TPR %"] == "75.0 +/- 25.0 (100.0, 50.0)"
    assert table["regions"]["bit accuracy %"] == "n/a"
    assert table["regions"]["TPR over attacks %"] == "12.5 +/- 12.5 (0.0, 25.0)"
    (diff,) = disturbance_rows(rows, ["stock", "regions"], ["treering"])
    assert diff["generator"] == "regions"
    assert diff["TPR - stock (points)"] == "-37.5 +/- 37.5 (-75.0, 0.0)"
    assert diff["TPR over attacks - stock (points)"] == "-37.5 +/- 12.5 (-50.0, -25.0)"
    matched = matched_rows(rows, [0.9])
    assert {(m["seed"], m["generator"]) for m in matched} == {
        (0, "stock"),
        (1, "stock"),
        (0, "regions"),
        (1, "regions"),
    }
    assert [m["tpr@ssim0.9"] for m in matched if m["generator"] == "stock"] == [0.75, 0.5]


def test_the_example_loads_and_bad_input_names_the_field():
    cfg = load_config(EXAMPLE)
    assert cfg.seeds == 3 and cfg.generators[0] == "stock" and cfg.generation.num_inference_steps == 10
    assert set(cfg.watermarks) == {"dwtDct", "dwtDctSvd", "rivaGan", "treering", "gaussian_shading"}
    assert {t.attack for t in cfg.attacks} == {"jpeg", "blur", "vae_regen", "paraphrase"}
    with pytest.raises(ConfigError, match="generators"):
        load_config(EXAMPLE, ["generators=[stock, gligen]"])
    with pytest.raises(ConfigError, match="watermarks"):
        load_config(EXAMPLE, ["watermarks=[stegastamp]"])
    with pytest.raises(ConfigError, match="generator_options"):
        load_config(EXAMPLE, ["generator_options={boxdif: {}}"])
    with pytest.raises(ConfigError, match="strengths"):
        load_config(EXAMPLE, ["attacks=[{attack: jpeg, strengths: [2]}]"])


@pytest.mark.slow
def test_the_study_runs_resumes_and_reports(tmp_path):
    from workbench.runs import resume_run

    cfg = load_config(EXAMPLE, TINY)
    run_dir = run_experiment(cfg, output_dir=tmp_path)
    rows = json.loads((run_dir / "outputs" / "rows.json").read_text())
    # seeds x generators x watermarks x (no attack + 3 attack conditions)
    assert len(rows) == 2 * 3 * 3 * 4
    assert {r["generator"] for r in rows} == {"stock", "regions", "retrieval_blend"}
    assert all(0.0 <= r["tpr"] <= 1.0 and 0.0 <= r["auc"] <= 1.0 for r in rows)
    assert all(r["bit_accuracy"] is None for r in rows if r["watermark"] == "treering")
    assert all(0.0 <= r["bit_accuracy"] <= 1.0 for r in rows if r["watermark"] != "treering")
    assert all(r["n_null"] == 3 for r in rows if r["attack"] == "none")  # one clean image per generator
    assert all(r["ssim"] == 1.0 for r in rows if r["attack"] == "none")
    assert all(r["ssim"] < 1.0 and math.isfinite(r["psnr"]) for r in rows if r["attack"] == "blur")
    # dwtDct is embedded into the clean images and found there without attack
    assert all(r["tpr"] == 1.0 for r in rows if r["watermark"] == "dwtDct" and r["attack"] == "none")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "stock.treering.none.tpr.mean" in metrics and "vs_stock.regions.gaussian_shading.tpr.se" in metrics
    html = (run_dir / "report.html").read_text()
    for title in (
        "Clean detection per generator x watermark",
        "Each generator against stock",
        "Detection at matched SSIM",
        "gaussian_shading: TPR vs quality per generator",
        "+/-",
    ):
        assert title in html  # fmt: skip
    resume_run(run_dir, force=True)  # every item reloaded from its checkpoint: the same numbers
    assert json.loads((run_dir / "outputs" / "rows.json").read_text()) == rows


@pytest.mark.slow
def test_a_clean_only_study_reports_without_attack_sections(tmp_path):
    cfg = load_config(
        EXAMPLE, [*TINY[:-3], "seeds=1", "generators=[stock]", "watermarks=[dwtDct]", "attacks=[]"]
    )
    run_dir = run_experiment(cfg, output_dir=tmp_path)
    rows = json.loads((run_dir / "outputs" / "rows.json").read_text())
    assert [r["attack"] for r in rows] == ["none"]
    html = (run_dir / "report.html").read_text()
    assert "Clean detection per generator x watermark" in html
    assert "Detection at matched SSIM" not in html and "TPR vs quality" not in html


@pytest.mark.parametrize("name", ["apps.studies.watermarks.measures", "apps.studies.watermarks.scenes"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
