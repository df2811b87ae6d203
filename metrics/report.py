"""Putting metric results into a run's ``report.html`` (:class:`workbench.report.Report`).

Every helper comes in two parts: a function that builds rows or a matplotlib ``Figure`` (usable
anywhere), and an ``add_*`` function that puts it into a report.

- :func:`metric_table_rows` / :func:`add_metric_table`: mean, 95% bootstrap CI, N and settings per metric.
- :func:`sweep_figure` / :func:`add_sweep`: metric vs attack strength, one line per method.
- :func:`quality_detection_figure` / :func:`add_quality_detection`: WAVES-style scatter of image
  quality degradation (x) against detection performance (y), one series per attack, points joined
  in order of strength.
- :func:`add_image_grid`: images with captions (e.g. the per-image metric values).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from metrics.bootstrap import bootstrap_ci


def _values(obj: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """Per-item values and settings of a metric object, a tensor / list of values, or a scalar."""
    if hasattr(obj, "per_item") and hasattr(obj, "describe"):
        values = obj.per_item().cpu().numpy()
        info = {k: v for k, v in obj.describe().items() if k != "metric"}
        return values, info
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().double().reshape(-1).numpy(), {}
    return np.asarray(obj, dtype=np.float64).reshape(-1), {}


def _settings_text(info: Mapping[str, Any]) -> str:
    return "; ".join(f"{k}={v}" for k, v in info.items() if k != "unit" and v not in (None, ""))


def metric_table_rows(
    metrics: Mapping[str, Any], confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0
) -> list[dict[str, Any]]:
    """One row per metric: ``metric``, ``mean``, ``ci_low``, ``ci_high``, ``n``, ``settings``.

    Args:
        metrics: name -> a :class:`metrics.base.PerItemMetric` (its per-item values and settings),
            a tensor / list of per-item values, or a single number (no interval).
        confidence, n_resamples, seed: bootstrap settings.
    """
    rows = []
    for name, obj in metrics.items():
        values, info = _values(obj)
        row: dict[str, Any] = {"metric": name}
        if values.size > 1:
            ci = bootstrap_ci(values, n_resamples=n_resamples, confidence=confidence, seed=seed)
            row.update(mean=ci.estimate, ci_low=ci.low, ci_high=ci.high, n=ci.n)
        else:
            row.update(
                mean=float(values[0]) if values.size else float("nan"),
                ci_low=None,
                ci_high=None,
                n=int(values.size),
            )
        unit = info.get("unit")
        if unit:
            row["unit"] = unit
        row["settings"] = _settings_text(info)
        rows.append(row)
    return rows


def add_metric_table(
    report: Any, title: str, metrics: Mapping[str, Any], caption: str | None = None, **kwargs: Any
) -> list[dict[str, Any]]:
    """Add :func:`metric_table_rows` to ``report`` as a table; returns the rows."""
    rows = metric_table_rows(metrics, **kwargs)
    level = int(round(100 * kwargs.get("confidence", 0.95)))
    report.add_table(
        title, rows, caption=caption or f"mean with {level}% percentile-bootstrap interval over items"
    )
    return rows


def _series(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Means and optional CI bounds from numbers, per-item value lists or (mean, low, high) tuples."""
    means, lows, highs, any_ci = [], [], [], False
    for v in values:
        if (
            isinstance(v, (tuple, list))
            and len(v) == 3
            and all(np.isscalar(x) for x in v)
            and isinstance(v, tuple)
        ):
            means.append(v[0])
            lows.append(v[1])
            highs.append(v[2])
            any_ci = True
        elif np.isscalar(v):
            means.append(float(v))
            lows.append(np.nan)
            highs.append(np.nan)
        else:
            ci = bootstrap_ci(v if not isinstance(v, torch.Tensor) else v.detach().cpu())
            means.append(ci.estimate)
            lows.append(ci.low)
            highs.append(ci.high)
            any_ci = True
    m = np.asarray(means, dtype=float)
    return (m, np.asarray(lows, dtype=float), np.asarray(highs, dtype=float)) if any_ci else (m, None, None)


def sweep_figure(
    strengths: Sequence[float],
    series: Mapping[str, Sequence[Any]],
    xlabel: str = "strength",
    ylabel: str = "metric",
    title: str | None = None,
) -> Figure:
    """Metric vs strength, one line per series, with a shaded CI band where available.

    Args:
        strengths: the x values (e.g. JPEG quality, noise sigma).
        series: name -> one entry per strength: a number, per-item values (bootstrapped), or a
            ``(mean, low, high)`` tuple.
    """
    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    x = np.asarray(strengths, dtype=float)
    for name, values in series.items():
        if len(values) != len(x):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(x)} strengths")
        m, lo, hi = _series(values)
        ax.plot(x, m, marker="o", label=name)
        if lo is not None and np.isfinite(lo).any():
            ax.fill_between(x, lo, hi, alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def add_sweep(
    report: Any,
    title: str,
    strengths: Sequence[float],
    series: Mapping[str, Sequence[Any]],
    caption: str | None = None,
    **kwargs: Any,
) -> Figure:
    """Add :func:`sweep_figure` to ``report`` (and a table of the plotted means)."""
    fig = sweep_figure(strengths, series, title=None, **kwargs)
    report.add_figure(title, fig, caption=caption)
    rows = []
    for name, values in series.items():
        m, lo, hi = _series(values)
        for i, s in enumerate(strengths):
            row = {
                "series": name,
                kwargs.get("xlabel", "strength"): s,
                kwargs.get("ylabel", "metric"): float(m[i]),
            }
            if lo is not None:
                row.update(ci_low=float(lo[i]), ci_high=float(hi[i]))
            rows.append(row)
    report.add_table(f"{title} (values)", rows)
    return fig


def quality_detection_figure(
    points: Sequence[Mapping[str, Any]],
    quality_label: str = "quality degradation",
    detection_label: str = "TPR@0.1%FPR",
    title: str | None = None,
) -> Figure:
    """WAVES-style scatter: each point is one attack at one strength.

    Args:
        points: dicts with ``attack`` (series name), ``quality`` (x, e.g. 1 - SSIM or LPIPS),
            ``detection`` (y, e.g. TPR at 0.1% FPR) and optionally ``strength`` (points of an attack
            are joined in increasing strength and the strongest is labelled).
    """
    fig = Figure(figsize=(5.5, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for p in points:
        for key in ("attack", "quality", "detection"):
            if key not in p:
                raise ValueError(
                    f"each point needs 'attack', 'quality' and 'detection'; missing {key!r} in {dict(p)}"
                )
        groups.setdefault(str(p["attack"]), []).append(p)
    for name, pts in groups.items():
        pts = sorted(pts, key=lambda q: q.get("strength", 0.0))
        xs = [float(q["quality"]) for q in pts]
        ys = [float(q["detection"]) for q in pts]
        ax.plot(xs, ys, marker="o", label=name, alpha=0.85)
    ax.set_xlabel(quality_label)
    ax.set_ylabel(detection_label)
    ax.set_ylim(-0.02, 1.02)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def add_quality_detection(
    report: Any, title: str, points: Sequence[Mapping[str, Any]], caption: str | None = None, **kwargs: Any
) -> Figure:
    """Add :func:`quality_detection_figure` and the table of its points to ``report``."""
    fig = quality_detection_figure(points, **kwargs)
    report.add_figure(
        title, fig, caption=caption or "lower-left is a better attack: less degradation, less detection"
    )
    report.add_table(f"{title} (points)", [dict(p) for p in points])
    return fig


def add_image_grid(
    report: Any,
    title: str,
    images: torch.Tensor | Sequence[torch.Tensor],
    captions: Sequence[str] | None = None,
    values: Mapping[str, Sequence[float]] | None = None,
    ncols: int = 8,
    caption: str | None = None,
) -> None:
    """Add an image grid; ``values`` (metric -> one number per image) are appended to the captions.

    Args:
        images (`torch.Tensor` of shape `(N, 3, H, W)` in [0, 1], or a list of `(3, H, W)`).
    """
    n = len(images)
    texts = list(captions) if captions is not None else [""] * n
    if len(texts) != n:
        raise ValueError(f"{n} images but {len(texts)} captions")
    for metric, vals in (values or {}).items():
        if len(vals) != n:
            raise ValueError(f"{metric}: {len(vals)} values for {n} images")
        texts = [f"{t} {metric}={float(v):.3g}".strip() for t, v in zip(texts, vals, strict=True)]
    report.add_images(
        title,
        images if isinstance(images, torch.Tensor) else list(images),
        captions=texts,
        ncols=ncols,
        caption=caption,
    )
