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

from workbench.config import ConfigError, ExperimentConfig, config_to_yaml
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
from workbench.runs.lock import RunLock, RunLockedError, stale_message
from workbench.runs.manifest import OutputManifest
from workbench.runs.metadata import git_info, host_info, now_iso, package_versions
from workbench.runs.metrics import MetricsLog
from workbench.runs.summary import write_run_report
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
        run.lock          while a process works in the folder: its PID (see :class:`RunLock`)
        outputs/          images (PNG), tensors (safetensors), JSON written by the experiment
        outputs.sha256    the SHA-256 of each output (see :class:`OutputManifest`)
        checkpoints/      one safetensors file per finished work item (see :class:`Checkpoint`)
        metrics.json      flat dotted metric names -> latest values
        metrics.csv       one row per log_metrics call
        report/           the report's sections (JSON) and images, to rebuild report.html
        report.html       self-contained report

    Only the main process writes (checkpoints excepted: each process writes its own work items), and
    only while it holds the folder's lock, from :meth:`open` to :meth:`close`. On resume, outputs that
    fail their checksum are deleted before the experiment runs again.

    Args:
        run_dir: the run folder (created if missing).
        config: the resolved experiment config.
        runtime: the run's :class:`Runtime`.
        resumed: whether this re-opens a folder of an earlier, interrupted attempt.
        lock: the folder's lock, already held by the caller (the context releases it on close); taken
            by :meth:`open` when ``None``.
    """

    def __init__(
        self,
        run_dir: str | Path,
        config: ExperimentConfig,
        runtime: Runtime,
        resumed: bool = False,
        lock: RunLock | None = None,
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
        self._lock = lock
        self._manifest: OutputManifest | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def is_main(self) -> bool:
        return self.runtime.is_main

    @property
    def outputs(self) -> Path:
        return self.dir / OUTPUTS_DIR

    def open(self) -> RunContext:
        """Lock and create (or re-open) the folder, write ``config.yaml`` and ``run.json``, start
        ``run.log``.

        Raises:
            RunLockedError: another live process works in the folder (nothing was written).
        """
        self._take_lock()
        try:
            if self.is_main:
                self._open_folder()
        except BaseException:
            if self._log_handler is not None:
                remove_handler(self._log_handler)
                self._log_handler = None
            self.release_lock()
            raise
        self.runtime.wait()
        self.logger.info("%s run folder %s", "resuming" if self.resumed else "created", self.dir)
        return self

    def _open_folder(self) -> None:
        """The main process's part of :meth:`open`, under the lock."""
        removed = remove_stale_temp_files(self.dir)
        self._log_handler = add_file_handler(self.dir / LOG_FILE)
        if removed:
            self.logger.info(
                "removed %d unfinished temporary file(s) of an interrupted attempt", len(removed)
            )
        stale = stale_message(self._lock) if self._lock is not None else None
        if stale:
            self.logger.warning(stale)
        self._manifest = OutputManifest(self.dir)
        if self.resumed:
            self._info = read_run_info(self.dir)
            self._manifest.discard_bad()
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

    def close(self, status: str = "completed", error: str | None = None) -> None:
        """Write the report and the final ``run.json`` (``status``: completed, failed or interrupted).

        A completed run waits for every process first. A failed or interrupted one does not: the other
        processes may be inside a collective call that this process will never join, so waiting would
        hang the run; the launcher ends them when this process exits with its error.
        """
        if status == "completed":
            self.runtime.wait()
        if not self.is_main:
            return
        self._info["status"] = status
        self._info["finished"] = now_iso()
        if error:
            self._info["error"] = error
        try:
            if self._manifest is not None:
                self._manifest.compact()
            self._write_info()
            self._finish_report()
        finally:
            self.release_lock()

    def _finish_report(self) -> None:
        """Write the report (a failure marks the run failed) and detach ``run.log``."""
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

    def release_lock(self) -> None:
        """Give the folder's lock back (idempotent; :meth:`close` does it)."""
        if self._lock is not None:
            self._lock.release()

    def _take_lock(self) -> None:
        """Hold the folder's lock (main process) unless the caller passed a held one.

        Only the main process holds a lock, so whether one is held is the main process's answer: every
        process must take the same branch, since :func:`lock_run_folder` is a collective call.
        """
        held = shared_from_main(self.runtime, self._lock is not None and self._lock.held)
        if not held:
            self._lock = lock_run_folder(self.dir, self.runtime)

    def save_report(self) -> Path | None:
        """Store the report's sections in ``report/`` and (re)write ``report.html``."""
        if not self.is_main:
            return None

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
            self._recorded(save_image(path, image))
        return path

    def save_tensors(self, name: str, tensors: dict[str, torch.Tensor]) -> Path:
        """Save named tensors as ``outputs/<name>.safetensors``."""
        path = self.outputs / f"{name}.safetensors"
        if self.is_main:
            self._recorded(save_tensors(path, tensors))
        return path

    def save_json(self, name: str, obj: Any) -> Path:
        """Save a JSON-able object as ``outputs/<name>.json``."""
        path = self.outputs / f"{name}.json"
        if self.is_main:
            self._recorded(atomic_write_json(path, obj))
        return path

    def _recorded(self, path: Path) -> Path:
        """Add a just-written output's checksum to ``outputs.sha256``."""
        if self._manifest is None:
            self._manifest = OutputManifest(self.dir)
        self._manifest.record(path)
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


def read_run_info(run_dir: str | Path) -> dict[str, Any]:
    """The run folder's ``run.json`` (``{}`` when missing); ``ConfigError`` naming it when unreadable."""
    import json

    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); restore it or start a new run") from None
    if not isinstance(info, dict):
        raise ConfigError(f"{path} does not hold a JSON object; restore it or start a new run")
    return info


def lock_run_folder(run_dir: str | Path, runtime: Runtime) -> RunLock | None:
    """Take ``run_dir``'s lock in the main process (``None`` elsewhere); every process raises
    :class:`RunLockedError` when another live process holds it."""
    lock, error = None, None
    if runtime.is_main:
        try:
            lock = RunLock(run_dir).acquire()
        except RunLockedError as exc:
            error = str(exc)
    error = shared_from_main(runtime, error)
    if error is not None:
        raise RunLockedError(error)
    return lock


def shared_from_main(runtime: Runtime, value: T) -> T:
    """The main process's ``value`` on every process (``value`` itself in a one-process run)."""
    if runtime.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value])[0]


def _short(flat: dict[str, Any], limit: int = 8) -> str:
    items = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in list(flat.items())[:limit]]
    return ", ".join(items) + (", ..." if len(flat) > limit else "")
