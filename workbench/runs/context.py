"""The :class:`RunContext` an experiment receives: its run folder, runtime, logger, report, metrics and
checkpoints."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image

from workbench.config import ExperimentConfig, config_to_yaml
from workbench.io import (
    atomic_write_json,
    atomic_write_text,
    remove_stale_temp_files,
    save_image,
    save_tensors,
    sha256_file,
)
from workbench.logging_utils import add_file_handler, remove_handler
from workbench.report import ASSETS_DIR, Report
from workbench.runs.checkpoint import Checkpoint
from workbench.runs.metadata import git_info, host_info, now_iso, package_versions
from workbench.runs.metrics import MetricsLog
from workbench.runtime import Runtime

T = TypeVar("T")

CONFIG_FILE = "config.yaml"
RUN_FILE = "run.json"
LOG_FILE = "run.log"
REPORT_FILE = "report.html"
REPORT_DIR = "report"
OUTPUTS_DIR = "outputs"
CHECKPOINTS_DIR = "checkpoints"


class RunContext:
    """One run folder and everything an experiment writes into it.

    Layout of ``dir``::

        config.yaml       resolved config (validates back to the same config)
        run.json          seed, status, times, package versions, git revision, host, command, input hashes
        run.log           the log of every attempt (appended on resume)
        outputs/          images (PNG), tensors (safetensors), JSON written by the experiment
        checkpoints/      one safetensors file per finished work item (see :class:`Checkpoint`)
        metrics.json      flat dotted metric names -> latest values
        metrics.csv       one row per log_metrics call
        report/           the report's sections (JSON) and images, to rebuild report.html
        report.html       self-contained report

    Only the main process writes (checkpoints excepted: each process writes its own work items).

    Args:
        run_dir: the run folder (created if missing).
        config: the resolved experiment config.
        runtime: the run's :class:`Runtime`.
        resumed: whether this re-opens a folder of an earlier, interrupted attempt.
    """

    def __init__(
        self, run_dir: str | Path, config: ExperimentConfig, runtime: Runtime, resumed: bool = False
    ) -> None:
        self.dir = Path(run_dir)
        self.config = config
        self.runtime = runtime
        self.resumed = resumed
        self.logger = logging.getLogger(f"workbench.experiments.{config.experiment}")
        self.report = Report(title=f"{config.name or config.experiment}: {self.dir.name}")
        self.checkpoint = Checkpoint(self.dir / CHECKPOINTS_DIR)
        self.metrics = MetricsLog(self.dir, write=self.is_main)
        self._log_handler: logging.Handler | None = None
        self._info: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle
    @property
    def is_main(self) -> bool:
        return self.runtime.is_main

    @property
    def outputs(self) -> Path:
        return self.dir / OUTPUTS_DIR

    def open(self) -> RunContext:
        """Create (or re-open) the folder, write ``config.yaml`` and ``run.json``, start ``run.log``."""
        if self.is_main:
            self.dir.mkdir(parents=True, exist_ok=True)
            removed = remove_stale_temp_files(self.dir)
            self._log_handler = add_file_handler(self.dir / LOG_FILE)
            if removed:
                self.logger.info(
                    "removed %d unfinished temporary file(s) of an interrupted attempt", len(removed)
                )
            if self.resumed:
                self._info = _read_json(self.dir / RUN_FILE)
                self.metrics.reload()
            else:
                atomic_write_text(self.dir / CONFIG_FILE, config_to_yaml(self.config))
            self._info.update(
                {
                    "experiment": self.config.experiment,
                    "name": self.config.name,
                    "seed": self.config.seed,
                    "status": "running",
                    "runtime": self.runtime.describe(),
                    "git": git_info(),
                    "versions": package_versions(),
                    **host_info(),
                }
            )
            self._info.setdefault("started", now_iso())
            self._info.setdefault("inputs", {})
            if self.resumed:
                self._info.setdefault("resumed", []).append(now_iso())
            self._info.pop("finished", None)
            self._info.pop("error", None)
            self._write_info()
        self.runtime.wait()
        self.logger.info("%s run folder %s", "resuming" if self.resumed else "created", self.dir)
        return self

    def close(self, status: str = "completed", error: str | None = None) -> None:
        """Write the report and the final ``run.json`` (``status``: completed, failed or interrupted)."""
        self.runtime.wait()
        if not self.is_main:
            return
        self._info["status"] = status
        self._info["finished"] = now_iso()
        if error:
            self._info["error"] = error
        self._write_info()
        try:
            self.save_report()
        except Exception as exc:
            self.logger.exception("writing the report failed")
            self._info["status"] = "failed"
            self._info["error"] = f"report: {type(exc).__name__}: {exc}"
            self._write_info()
            raise
        finally:
            self.logger.info("run %s: %s", self._info["status"], self.dir)
            if self._log_handler is not None:
                remove_handler(self._log_handler)
                self._log_handler = None

    def save_report(self) -> Path | None:
        """Store the report's sections in ``report/`` and (re)write ``report.html``."""
        if not self.is_main:
            return None
        from workbench.runs.summary import write_run_report

        folder = self.dir / REPORT_DIR
        if (folder / ASSETS_DIR).is_dir():
            shutil.rmtree(folder / ASSETS_DIR)
        self.report.save(folder)
        return write_run_report(self.dir, report=self.report)

    def _write_info(self) -> None:
        atomic_write_json(self.dir / RUN_FILE, self._info)

    # ------------------------------------------------------------------ outputs
    def save_image(self, name: str, image: torch.Tensor | np.ndarray | Image.Image) -> Path:
        """Save one image as ``outputs/<name>.png`` (a tensor ``(3, H, W)`` in [0, 1], an array or a PIL
        image); ``name`` may contain ``/`` for sub-folders."""
        path = self.outputs / f"{name}.png"
        if self.is_main:
            save_image(path, image)
        return path

    def save_tensors(self, name: str, tensors: dict[str, torch.Tensor]) -> Path:
        """Save named tensors as ``outputs/<name>.safetensors``."""
        path = self.outputs / f"{name}.safetensors"
        if self.is_main:
            save_tensors(path, tensors)
        return path

    def save_json(self, name: str, obj: Any) -> Path:
        """Save a JSON-able object as ``outputs/<name>.json``."""
        path = self.outputs / f"{name}.json"
        if self.is_main:
            atomic_write_json(path, obj)
        return path

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> dict[str, Any]:
        """Record metrics (nested dicts become dotted keys) in ``metrics.json`` and ``metrics.csv``."""
        flat = self.metrics.log(metrics, step=step)
        self.logger.info("metrics%s: %s", f" (step {step})" if step is not None else "", _short(flat))
        return flat

    def record_input(self, path: str | Path, name: str | None = None) -> str:
        """Hash an input file or folder (SHA-256) into ``run.json``; returns the hex digest."""
        digest = sha256_file(path)
        if self.is_main:
            self._info.setdefault("inputs", {})[name or str(path)] = digest
            self._write_info()
        return digest

    def progress(
        self, iterable: Iterable[T], desc: str | None = None, total: int | None = None
    ) -> Iterator[T]:
        """Iterate with a tqdm progress bar on stderr (main process only)."""
        from tqdm.auto import tqdm

        return iter(
            tqdm(iterable, desc=desc, total=total, disable=not self.is_main, dynamic_ncols=True, leave=False)
        )


def _read_json(path: Path) -> dict[str, Any]:
    import json

    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _short(flat: dict[str, Any], limit: int = 8) -> str:
    items = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in list(flat.items())[:limit]]
    return ", ".join(items) + (", ..." if len(flat) > limit else "")
