"""Metric records of a run: ``metrics.json`` (flat, dotted keys, latest value of each) and
``metrics.csv`` (one row per :meth:`MetricsLog.log` call, columns = union of keys)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.io import atomic_write_json, atomic_write_text

STEP = "step"


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts into dotted keys; 1-element tensors / numpy scalars become Python numbers.

    Example:
        >>> flatten_metrics({"clip": {"score": 0.3}, "n": 4})
        {'clip.score': 0.3, 'n': 4}
    """
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, prefix=f"{name}."))
        else:
            flat[name] = _scalar(value, name)
    return flat


def _scalar(value: Any, name: str) -> Any:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"metric {name!r} is a tensor of shape {tuple(value.shape)}; log scalars only")
        value = value.item()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"metric {name!r} has type {type(value).__name__}; log numbers, strings or nested dicts")


class MetricsLog:
    """Accumulates logged metrics and rewrites both files atomically after each call.

    Rows logged with a ``step`` replace an earlier row with the same step, and rows without one replace
    an earlier row with the same keys, so an experiment resumed after a crash that logs the same values
    again ends with the same files as an uninterrupted run.
    """

    def __init__(self, folder: str | Path, write: bool = True) -> None:
        self.folder = Path(folder)
        self.write_files = write
        self.rows: list[dict[str, Any]] = []
        self.summary: dict[str, Any] = {}

    @property
    def json_path(self) -> Path:
        return self.folder / "metrics.json"

    @property
    def csv_path(self) -> Path:
        return self.folder / "metrics.csv"

    def reload(self) -> None:
        """Read the rows already on disk (used when a run is resumed)."""
        if self.json_path.is_file():
            data = json.loads(self.json_path.read_text(encoding="utf-8"))
            self.summary = dict(data)
        hist = self.folder / ".metrics_rows.json"
        if hist.is_file():
            self.rows = json.loads(hist.read_text(encoding="utf-8"))

    def log(self, metrics: Mapping[str, Any], step: int | None = None) -> dict[str, Any]:
        flat = flatten_metrics(metrics)
        if STEP in flat:
            raise ValueError(f"{STEP!r} is reserved; pass it as log_metrics(..., step=...)")
        row = ({STEP: int(step)} if step is not None else {}) | flat
        for i, old in enumerate(self.rows):
            same = (
                old.get(STEP) == step if step is not None else (STEP not in old and old.keys() == row.keys())
            )
            if same:
                self.rows[i] = row
                break
        else:
            self.rows.append(row)
        self.summary.update(flat)
        if self.write_files:
            self.flush()
        return flat

    def flush(self) -> None:
        atomic_write_json(self.json_path, self.summary)
        atomic_write_json(self.folder / ".metrics_rows.json", self.rows)
        atomic_write_text(self.csv_path, self.to_csv())

    def to_csv(self) -> str:
        columns: list[str] = []
        for row in self.rows:
            columns.extend(k for k in row if k not in columns)
        if STEP in columns:
            columns.remove(STEP)
            columns.insert(0, STEP)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: row.get(k, "") for k in columns})
        return buffer.getvalue()
