"""The report compares attacks at the paraphrase cells' own image quality, and at fixed SSIM levels."""

from __future__ import annotations

import pytest

from attacks.watermarks.bench.config import WatermarkBenchConfig
from attacks.watermarks.bench.report import at_reference_ssim, matched_ssim


def _row(attack, strength, ssim, tpr, acc=0.5, wm="dwtDct"):
    return {
        "watermark": wm,
        "attack": attack,
        "strength": strength,
        "ssim": ssim,
        "tpr_at_1pct_fpr": tpr,
        "bit_accuracy": acc,
    }


ROWS = [
    _row("none", 0.0, 1.0, 1.0, 1.0),
    _row("paraphrase", 0.1, 0.9, 0.05, 0.47),
    _row("paraphrase", 0.2, 0.85, 0.0, 0.46),
    _row("jpeg", 0.5, 0.95, 0.8, 0.9),
    _row("jpeg", 1.0, 0.80, 0.2, 0.6),
    _row("blur", 0.5, 0.97, 0.9),  # never reaches SSIM 0.9
    _row("none", 0.0, 1.0, 1.0, 1.0, wm="rivaGan"),
    _row("paraphrase", 0.1, 0.93, 0.0, 0.5, wm="rivaGan"),
]


def test_each_paraphrase_cell_meets_every_attack_at_its_own_ssim():
    table = at_reference_ssim(ROWS)
    assert [(r["watermark"], r["cell"]) for r in table] == [
        ("dwtDct", "paraphrase 0.1"),
        ("dwtDct", "paraphrase 0.2"),
        ("rivaGan", "paraphrase 0.1"),
    ]
    first, second = table[0], table[1]
    assert first["ssim"] == 0.9 and first["paraphrase tpr"] == 0.05 and first["paraphrase acc"] == 0.47
    # jpeg between (0.95, 0.8) and (0.80, 0.2): at SSIM 0.9 -> 0.6, at 0.85 -> 0.4
    assert first["jpeg tpr"] == pytest.approx(0.6) and second["jpeg tpr"] == pytest.approx(0.4)
    assert first["jpeg acc"] == pytest.approx(0.8)
    assert first["blur tpr"] == ""  # blank: blur stays above SSIM 0.9
    assert "jpeg tpr" not in table[2]  # only rivaGan's own attacks


def test_matched_ssim_interpolates_at_fixed_levels():
    table = {(r["watermark"], r["attack"]): r for r in matched_ssim(ROWS, (0.9, 0.8))}
    assert table[("dwtDct", "jpeg")]["tpr@ssim0.9"] == pytest.approx(0.6)
    assert table[("dwtDct", "jpeg")]["tpr@ssim0.8"] == pytest.approx(0.2)
    assert table[("dwtDct", "blur")]["tpr@ssim0.9"] == ""
    assert set(matched_ssim(ROWS)[0]) >= {"tpr@ssim0.95", "acc@ssim0.8"}  # the default levels


def test_config_refuses_levels_outside_unit_interval():
    with pytest.raises(ValueError, match="matched_ssim"):
        WatermarkBenchConfig(matched_ssim=[1.5])
    with pytest.raises(ValueError, match="matched_ssim"):
        WatermarkBenchConfig(matched_ssim=[])
    assert WatermarkBenchConfig(matched_ssim=[0.9]).matched_ssim == [0.9]
