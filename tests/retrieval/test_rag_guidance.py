"""Interleaved guidance: the schedule of text- and retrieval-enhanced steps, and the guidance arithmetic."""

from __future__ import annotations

import math

import pytest
import torch

from generators.retrieval import GuidanceConfig, interleaved_schedule
from generators.retrieval.guidance import BRANCHES, combine_guidance


@pytest.mark.parametrize("n", [1, 2, 7, 10, 25, 50])
@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.25, 1 / 3, 0.5, 0.7, 1.0])
def test_schedule_counts_and_spread(n, ratio):
    kinds = interleaved_schedule(n, ratio)
    assert len(kinds) == n and set(kinds) <= {"text", "retrieval"}
    text = [i for i, k in enumerate(kinds) if k == "text"]
    assert len(text) == math.floor(n * ratio + 1e-9)
    if 0 < ratio <= 0.5 and len(text) > 1:  # spread evenly: gaps differ by at most one step
        gaps = [b - a for a, b in zip(text, text[1:])]
        assert max(gaps) - min(gaps) <= 1 and min(gaps) >= 2


def test_schedule_extremes_and_errors():
    assert interleaved_schedule(4, 1.0) == ["text"] * 4
    assert interleaved_schedule(4, 0.0) == ["retrieval"] * 4
    assert interleaved_schedule(4, 0.5) == ["retrieval", "text", "retrieval", "text"]
    with pytest.raises(ValueError, match="ratio"):
        interleaved_schedule(4, 1.5)
    with pytest.raises(ValueError):
        GuidanceConfig(scheme="interleaved", ratio=-0.1)
    with pytest.raises(ValueError):
        GuidanceConfig(schem="single")  # extra fields are refused


def test_config_round_trip_and_scales():
    cfg = GuidanceConfig(scheme="interleaved", guidance_scale=5.0, retrieval_guidance_scale=2.0, ratio=0.25)
    assert GuidanceConfig.model_validate_json(cfg.model_dump_json()) == cfg
    assert cfg.scale("text") == 5.0 and cfg.scale("retrieval") == 2.0
    assert GuidanceConfig().step_kinds(3) == ["single"] * 3
    assert GuidanceConfig(retrieval_guidance_scale=None, guidance_scale=3.0).retrieval_scale == 3.0
    assert cfg.label() == "interleaved r=0.25 w=5/2"


def test_branches_and_combination():
    # single: eps(-,-) vs eps(c,r); text-enhanced: eps(-,r) vs eps(c,r); retrieval-enhanced: eps(c,-) vs eps(c,r)
    assert BRANCHES == {
        "single": ("uncond", "cond"),
        "text": ("retrieval_only", "cond"),
        "retrieval": ("text_only", "cond"),
    }
    base, full = torch.zeros(1, 4, 2, 2), torch.ones(1, 4, 2, 2)
    assert torch.equal(combine_guidance(base, full, 3.0), torch.full((1, 4, 2, 2), 3.0))
    assert torch.equal(combine_guidance(base, full, 1.0), full)
