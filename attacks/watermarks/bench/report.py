"""The benchmark's outputs: ``robustness.csv``, the robustness table, detection at matched SSIM,
and a quality-vs-detection plot per watermark."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from typing import Any

import numpy as np

# The columns of robustness.csv, in order (the required ones first).
CSV_COLUMNS = [
    "watermark",
    "attack",
    "strength",
    "bit_accuracy",
    "tpr_at_1pct_fpr",
    "psnr",
    "ssim",
    "clip_i",
    "judge_preserved",
    "tpr_at_0.1pct_fpr",
    "auc",
    "threshold_at_1pct_fpr",
    "threshold_at_0.1pct_fpr",
    "achieved_fpr_at_1pct",
    "achieved_fpr_at_0.1pct",
    "lpips",
    "caption_faithfulness",
    "score_mean",
    "null_score_mean",
    "n_images",
    "n_null",
    "kind",
    "attack_name",
    "attack_params",
    "codec",
    "images_per_s",
]

TABLE_COLUMNS = [
    "watermark",
    "attack",
    "strength",
    "bit_accuracy",
    "tpr_at_1pct_fpr",
    "auc",
    "psnr",
    "ssim",
    "clip_i",
    "judge_preserved",
]


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else round(value, 4)
    return value


def csv_text(rows: list[dict[str, Any]]) -> str:
    """``robustness.csv``: one row per watermark x attack x strength, :data:`CSV_COLUMNS` first."""
    extra = sorted({k for row in rows for k in row} - set(CSV_COLUMNS))
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=CSV_COLUMNS + extra, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return buffer.getvalue()


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _fmt(row.get(k, math.nan)) for k in TABLE_COLUMNS} for row in rows]


def curves(rows: list[dict[str, Any]]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """watermark -> attack -> rows sorted by strength (each attack curve starts at the un-attacked row)."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    clean = {row["watermark"]: row for row in rows if row["attack"] == "none"}
    for row in rows:
        if row["attack"] != "none":
            out[row["watermark"]].setdefault(row["attack"], []).append(row)
    for wm, by_attack in out.items():
        for attack, items in by_attack.items():
            items.sort(key=lambda r: r["strength"])
            if wm in clean:
                by_attack[attack] = [clean[wm], *items]
    return out


# The SSIM levels of the matched-SSIM table (the config's default).
MATCHED_SSIM_LEVELS: tuple[float, ...] = (0.95, 0.9, 0.85, 0.8)
_DETECTION = (("tpr_at_1pct_fpr", "tpr"), ("bit_accuracy", "acc"))


def _detection_at(items: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """TPR at 1 % FPR and bit accuracy (keys ``tpr``, ``acc``) of one attack's strength curve at SSIM
    ``target``, linear in SSIM; blank where the curve does not reach it."""
    ssim = np.array([r["ssim"] for r in items], dtype=float)
    return {
        short: _fmt(_interp_at(ssim, np.array([r[metric] for r in items], dtype=float), target))
        for metric, short in _DETECTION
    }


def matched_ssim(
    rows: list[dict[str, Any]], targets: tuple[float, ...] | list[float] = MATCHED_SSIM_LEVELS
) -> list[dict[str, Any]]:
    """Detection of each attack interpolated at fixed SSIM levels to the original (linear in SSIM along
    the strength curve; blank where the curve does not reach that SSIM)."""
    out = []
    for wm, by_attack in curves(rows).items():
        for attack, items in sorted(by_attack.items()):
            row: dict[str, Any] = {"watermark": wm, "attack": attack}
            for target in targets:
                for short, value in _detection_at(items, target).items():
                    row[f"{short}@ssim{target:g}"] = value
            out.append(row)
    return out


def at_reference_ssim(rows: list[dict[str, Any]], reference: str = "paraphrase") -> list[dict[str, Any]]:
    """Every attack at the image quality of each ``reference`` cell: one row per watermark and cell of an
    attack whose label starts with ``reference``, holding that cell's SSIM, TPR at 1 % FPR and bit
    accuracy, and every other attack's interpolated along its strength curve at the same SSIM (blank
    where its curve does not reach it)."""
    out = []
    for wm, by_attack in curves(rows).items():
        for label, cells in sorted(by_attack.items()):
            if not label.startswith(reference):
                continue
            for cell in cells:
                if cell["attack"] == "none":
                    continue
                target = float(cell["ssim"])
                row: dict[str, Any] = {
                    "watermark": wm,
                    "cell": f"{label} {cell['strength']:g}",
                    "ssim": _fmt(target),
                    f"{label} tpr": _fmt(float(cell["tpr_at_1pct_fpr"])),
                    f"{label} acc": _fmt(float(cell["bit_accuracy"])),
                }
                for attack, items in sorted(by_attack.items()):
                    if attack != label:
                        for short, value in _detection_at(items, target).items():
                            row[f"{attack} {short}"] = value
                out.append(row)
    return out


def _interp_at(x: np.ndarray, y: np.ndarray, target: float) -> float:
    """y at x = target along the piecewise-linear curve (x need not be monotonic: first crossing)."""
    if np.isnan(y).all():
        return math.nan
    for i in range(len(x) - 1):
        a, b = x[i], x[i + 1]
        if min(a, b) <= target <= max(a, b) and not (np.isnan(y[i]) or np.isnan(y[i + 1])):
            t = 0.0 if a == b else (target - a) / (b - a)
            return float(y[i] + t * (y[i + 1] - y[i]))
    return math.nan


def quality_detection_figure(wm: str, by_attack: dict[str, list[dict[str, Any]]]):
    """Two panels: TPR at 1 % FPR and bit accuracy against SSIM, one line per attack over strengths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for attack, items in sorted(by_attack.items()):
        ssim = [r["ssim"] for r in items]
        style = {"linewidth": 2.5, "color": "black"} if attack.startswith("paraphrase") else {"linewidth": 1}
        axes[0].plot(ssim, [r["tpr_at_1pct_fpr"] for r in items], marker="o", label=attack, **style)
        axes[1].plot(ssim, [r["bit_accuracy"] for r in items], marker="o", label=attack, **style)
    axes[0].set_ylabel("TPR at 1% FPR")
    axes[1].set_ylabel("bit accuracy")
    for ax in axes:
        ax.set_xlabel("SSIM to the watermarked image")
        ax.invert_xaxis()
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, ncol=2)
    fig.suptitle(f"{wm}: detection vs image quality (strength grows to the right)")
    fig.tight_layout()
    return fig
