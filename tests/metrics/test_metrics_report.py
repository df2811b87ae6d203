"""Bootstrap intervals and the report helpers (tables, sweeps, quality-vs-detection, grids)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import PSNR, bootstrap_ci
from metrics.report import (
    add_image_grid,
    add_metric_table,
    add_quality_detection,
    add_sweep,
    metric_table_rows,
    quality_detection_figure,
    sweep_figure,
)


def test_bootstrap_ci_covers_like_the_normal_approximation():
    rng = np.random.default_rng(0)
    values = rng.normal(5.0, 2.0, 400)
    ci = bootstrap_ci(values, n_resamples=2000, seed=1)
    half = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert ci.estimate == pytest.approx(values.mean())
    assert ci.low == pytest.approx(values.mean() - half, abs=0.05) and ci.high == pytest.approx(
        values.mean() + half, abs=0.05
    )
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    # scipy's percentile bootstrap agrees within Monte-Carlo error
    from scipy.stats import bootstrap

    ref = bootstrap(
        (values,), np.mean, n_resamples=2000, method="percentile", random_state=0
    ).confidence_interval
    assert abs(ci.low - ref.low) < 0.05 and abs(ci.high - ref.high) < 0.05
    median = bootstrap_ci(values, statistic=lambda a: np.median(a, axis=-1))
    assert median.low < np.median(values) < median.high
    inf = bootstrap_ci([1.0, float("inf")])
    assert np.isnan(inf.low) and inf.estimate == float("inf")
    single = bootstrap_ci([2.0])
    assert single.low == single.high == 2.0


def test_metric_table_rows_from_metrics_values_and_scalars():
    m = PSNR(data_range=1.0)
    x = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    m.update(x, (x * 0.9).clamp(0, 1))
    rows = metric_table_rows({"psnr": m, "lpips": [0.1, 0.2, 0.3], "fd": 12.5})
    assert [r["metric"] for r in rows] == ["psnr", "lpips", "fd"]
    assert rows[0]["unit"] == "dB" and "data_range" in rows[0]["settings"] and rows[0]["n"] == 6
    assert rows[0]["ci_low"] <= rows[0]["mean"] <= rows[0]["ci_high"]
    assert rows[1]["mean"] == pytest.approx(0.2) and rows[2]["ci_low"] is None and rows[2]["mean"] == 12.5


def test_figures_and_report_html():
    from workbench.report import Report

    strengths = [10, 30, 50, 90]
    fig = sweep_figure(
        strengths, {"ssim": [0.5, 0.7, 0.8, 0.95], "psnr/40": [[0.5, 0.6], [0.6, 0.7], (0.8, 0.7, 0.9), 0.9]}
    )
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and list(ax.lines[0].get_xdata()) == strengths
    with pytest.raises(ValueError, match="3 values for 4 strengths"):
        sweep_figure(strengths, {"bad": [1, 2, 3]})
    points = [
        {"attack": "jpeg", "strength": q, "quality": 1 - q / 100, "detection": q / 100} for q in (30, 60, 90)
    ] + [{"attack": "paraphrase", "strength": 0.5, "quality": 0.3, "detection": 0.1}]
    scatter = quality_detection_figure(points)
    assert len(scatter.axes[0].lines) == 2
    with pytest.raises(ValueError, match="'detection'"):
        quality_detection_figure([{"attack": "x", "quality": 0.1}])

    report = Report("metrics")
    add_metric_table(report, "Quality", {"ssim": [0.9, 0.8, 0.85]})
    add_sweep(
        report,
        "SSIM vs JPEG quality",
        strengths,
        {"ssim": [0.5, 0.7, 0.8, 0.95]},
        xlabel="quality",
        ylabel="ssim",
    )
    add_quality_detection(report, "Attacks", points)
    add_image_grid(
        report, "Samples", torch.rand(3, 3, 8, 8), captions=["a", "b", "c"], values={"ssim": [0.1, 0.2, 0.3]}
    )
    html = report.to_html()
    assert html.count("<img") >= 5  # 2 figures + 3 grid images
    assert "ci_low" in html and "ssim=0.2" in html and "SSIM vs JPEG quality" in html
    with pytest.raises(ValueError, match="2 values for 3 images"):
        add_image_grid(report, "bad", torch.rand(3, 3, 8, 8), values={"ssim": [0.1, 0.2]})
