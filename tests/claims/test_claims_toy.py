"""Measured claims on the shipped toy models, rerun end to end over 3 seeds (marker ``slow``:
``make test-slow``). Each claim is defined once, in ``benchmarks/claims_over_seeds.py`` (its example
config, overrides, seed fields and targets), which prints the same per-seed tables; seed ``s`` moves every
seed field of the config by ``s`` (seed 0 is the shipped config). A quantity holds when its mean over the
seeds reaches the target and its worst seed is no more than two standard errors below it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from workbench.claims import run_claim

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SEEDS = (0, 1, 2)


def _claims():
    spec = importlib.util.spec_from_file_location(
        "claims_over_seeds", ROOT / "benchmarks" / "claims_over_seeds.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CLAIMS


def _check(name: str, tmp_path) -> None:
    summaries = run_claim(_claims()[name], SEEDS, tmp_path, examples_dir=ROOT, log=print)
    lines = [s.line(q) for q, s in summaries.items()]
    print("\n".join(lines))
    assert all(s.holds for s in summaries.values()), "\n".join(lines)


def test_region_prompts_beat_stock_by_30_points_on_two_object_layouts(tmp_path):
    _check("layout", tmp_path)  # +0.30 all-in-box over stock, mean IoU >= 0.6


def test_neighbour_blending_draws_rare_and_unseen_entities(tmp_path):
    _check("retrieval", tmp_path)  # +30 fidelity points on rare and unseen, frequent not 5 points lower


def test_master_image_detector_catches_held_out_masters(tmp_path):
    _check("detector", tmp_path)  # TPR >= 0.95 at 1 % FPR


def test_detector_test_sets_are_full_size():
    from workbench.config import load_config

    claim = _claims()["detector"]
    cfg = load_config(ROOT / claim.example, list(claim.overrides))
    assert cfg.evaluation.detector.test_set.images >= 32 and cfg.evaluation.detector.real_test >= 512


def test_visual_paraphrase_removes_post_hoc_watermarks_and_keeps_content(tmp_path):
    _check("paraphrase", tmp_path)  # judge keeps >= 0.90 of generations, bit accuracy <= 0.6 for each


@pytest.mark.xfail(
    strict=True,
    reason="open: the toy VAE's latent error (channels 0, 1, 3; its decoder is blind to channel 2) loses the "
    "key through guided (guidance 5) inversion; it must halve for the key to survive, and the inversion encoder "
    "trained so far cuts it by 10-25 % (docs/watermarks.md, 'An inversion encoder for the toy VAE')",
)
def test_tree_ring_detected_without_attack_at_guidance_5(tmp_path):
    _check("treering", tmp_path)  # TPR@1%FPR >= 0.9 on 32 generations, every seed


@pytest.mark.xfail(
    strict=True,
    reason="open for CLIP-T only (both concepts found 0.74 over six seeds with concept binding): with class words "
    "CLIP-T cannot reach text-only's: the toy world's own rendering of each target (every concept as referenced) "
    "scores 3.7 +/- 0.2 below the same scene drawn plain, and FreeCustom's images score what those renderings do "
    "(docs/multiconcept.md, 'Over seeds: which compositions fail')",
)
def test_freecustom_finds_both_concepts_with_class_words_and_keeps_clip_t(tmp_path):
    _check("multiconcept", tmp_path)  # both found >= 0.60, +0.30 over text-only, CLIP-T not below text-only's


def test_freecustom_claim_runs_the_class_word_benchmark_at_full_size():
    from workbench.config import load_config

    claim = _claims()["multiconcept"]
    cfg = load_config(ROOT / claim.example, list(claim.overrides))
    assert cfg.benchmark.concept_words == "class" and cfg.benchmark.triples == 0
    assert cfg.benchmark.pairs * cfg.benchmark.images_per_composition >= 96
    metrics = {
        "claims.both_found": 0.6,
        "claims.both_found_gain_over_text": 0.6,
        "claims.clip_t_minus_text": -1.0,
    }
    assert [q.value(metrics) >= q.target for q in claim.quantities] == [True, True, False]
