"""The matched-SSIM table compares attacks at the paraphrase cells' own image quality."""

from __future__ import annotations

import math

import pytest

from attacks.watermarks.bench.config import WatermarkBenchConfig
from attacks.watermarks.bench.report import matched_ssim, ssim_levels


def _row(attack, strength, ssim, tpr, acc=0.5):
    return {
        "watermark": "dwtDct",
        "attack": attack,
        "strength": strength,
        "ssim": ssim,
        "tpr_at_1pct_fpr": tpr,
        "bit_accuracy": acc,
    }


ROWS = [
    _row("none", 0.0, 1.0, 1.0, 1.0),
    _row("paraphrase", 0.1, 0.904, 0.05),
    _row("paraphrase", 0.2, 0.85, 0.0),
    _row("jpeg", 0.5, 0.95, 0.8),
    _row("jpeg", 1.0, 0.80, 0.2),
    _row("blur", 0.5, 0.97, 0.9),  # never reaches SSIM 0.9
]


def test_levels_are_the_paraphrase_cells_ssims():
    assert ssim_levels(ROWS) == (0.9, 0.85)
    assert ssim_levels([r for r in ROWS if r["attack"] != "paraphrase"]) == (0.9, 0.8, 0.7, 0.6)


def test_matched_ssim_interpolates_each_attack_at_those_levels():
    table = {r["attack"]: r for r in matched_ssim(ROWS)}
    # jpeg between (0.95, 0.8) and (0.80, 0.2): at 0.9 -> 0.6, at 0.85 -> 0.4
    assert table["jpeg"]["tpr@ssim0.9"] == pytest.approx(0.6)
    assert table["jpeg"]["tpr@ssim0.85"] == pytest.approx(0.4)
    assert table["paraphrase"]["tpr@ssim0.85"] == pytest.approx(0.0)
    assert table["blur"]["tpr@ssim0.9"] == ""  # blank: blur stays above SSIM 0.9
    fixed = {r["attack"]: r for r in matched_ssim(ROWS, (0.8,))}
    assert fixed["jpeg"]["tpr@ssim0.8"] == pytest.approx(0.2)
    assert not math.isnan(fixed["jpeg"]["acc@ssim0.8"])


def test_config_refuses_levels_outside_unit_interval():
    with pytest.raises(ValueError, match="matched_ssim"):
        WatermarkBenchConfig(matched_ssim=[1.5])
    assert WatermarkBenchConfig(matched_ssim=[0.9]).matched_ssim == [0.9]
