"""Running an experiment into a run folder, and resuming one."""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import re
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.config import ConfigError, ExperimentConfig, read_config_file, validate_config
from workbench.experiments import get_experiment
from workbench.logging_utils import DATE_FORMAT, LOG_FORMAT
from workbench.runs.context import (
    CONFIG_FILE,
    LOG_FILE,
    REPORT_FILE,
    RUN_FILE,
    RunContext,
    lock_run_folder,
    read_run_info,
    shared_from_main,
)
from workbench.runs.lock import RunLock, check_unlocked, stale_message
from workbench.runs.manifest import OutputManifest
from workbench.runtime import Runtime

logger = logging.getLogger(__name__)


class RunTerminated(KeyboardInterrupt):
    """SIGTERM arrived during a run: it stops as Ctrl-C stops it (status ``interrupted``)."""


def new_run_dir(cfg: ExperimentConfig, output_dir: str | Path | None = None) -> Path:
    """A fresh folder path ``<output_dir>/<name>-<YYYYmmdd-HHMMSS>-s<seed>`` (suffixed when taken)."""
    root = Path(output_dir if output_dir is not None else cfg.output_dir)
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", cfg.name or cfg.experiment).strip("-") or "run"
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = root / f"{label}-{stamp}-s{cfg.seed}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def make_runtime(cfg: ExperimentConfig) -> Runtime:
    return Runtime(
        seed=cfg.seed,
        precision=cfg.runtime.precision,
        device=cfg.runtime.device,
        deterministic=cfg.runtime.deterministic,
        autocast=cfg.runtime.autocast,
    )


def run_experiment(
    cfg: ExperimentConfig,
    output_dir: str | Path | None = None,
    run_dir: str | Path | None = None,
    resumed: bool = False,
    inputs: dict[str, str | Path] | None = None,
    force: bool = False,
) -> Path:
    """Run ``cfg``'s experiment in a new run folder (or in ``run_dir``) and return the folder.

    ``inputs`` (name -> file or folder) are hashed into ``run.json``. The run's status in ``run.json``
    ends as ``completed``, ``failed`` (the exception is re-raised) or ``interrupted`` (Ctrl-C or
    SIGTERM; :class:`KeyboardInterrupt` is re-raised). The folder is locked for the whole run.

    Args:
        resumed: continue the earlier attempt in ``run_dir``. A completed run whose outputs pass their
            checksums is left as it is (logged), unless ``force``.
        force: with ``resumed``, run a completed run's steps again (valid checkpoints are reused).

    Raises:
        RunLockedError: another live process works in the folder (nothing was written).
    """
    spec = get_experiment(cfg.experiment)
    runtime = make_runtime(cfg)
    if not runtime.is_main:  # one voice on the console: the main process's
        logging.getLogger().setLevel(logging.WARNING)
    if run_dir is None:
        run_dir = new_run_dir(cfg, output_dir)
        if runtime.num_processes > 1:  # every process must use the main process's folder name
            from accelerate.utils import broadcast_object_list

            run_dir = Path(broadcast_object_list([str(run_dir)])[0])
    with sigterm_as_interrupt():
        lock = lock_run_folder(run_dir, runtime)
        if _nothing_to_do(run_dir, runtime, lock, check=resumed and not force):
            return Path(run_dir)
        ctx = RunContext(run_dir, cfg, runtime, resumed=resumed, lock=lock).open()
        _run_in(ctx, spec, cfg, inputs or {})
    return ctx.dir


def _nothing_to_do(run_dir: str | Path, runtime: Runtime, lock: RunLock | None, check: bool) -> bool:
    """With ``check``, whether the run in ``run_dir`` is complete; if so (or on an error) the lock is
    given back."""
    try:
        complete = check and is_complete(run_dir, runtime)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    if complete:
        if lock is not None:
            if stale := stale_message(lock):
                logger.warning(stale)
            lock.release()
        logger.warning("run folder %s is complete; nothing to do (--force runs its steps again)", run_dir)
    return complete


def _run_in(ctx: RunContext, spec: Any, cfg: ExperimentConfig, inputs: dict[str, str | Path]) -> None:
    """Run the experiment in an open context and close it with the status it ended with."""
    try:
        for name, path in inputs.items():
            ctx.record_input(path, name=name)
        spec.run(ctx, cfg)
    except KeyboardInterrupt as exc:
        if isinstance(exc, RunTerminated):
            ctx.logger.warning("stopped by SIGTERM")
        ctx.close(status="interrupted")
        raise
    except BaseException as exc:
        log_traceback_to_run_log(ctx, f"experiment {cfg.experiment!r} failed")
        ctx.close(status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    ctx.close(status="completed")


def is_complete(run_dir: str | Path, runtime: Runtime) -> bool:
    """Whether ``run_dir``'s run completed, its report exists and every recorded output passes its
    checksum (decided by the main process; what is missing or bad is logged)."""
    complete = None
    if runtime.is_main:
        complete = read_run_info(run_dir).get("status") == "completed"
        if complete and not (Path(run_dir) / REPORT_FILE).is_file():
            logger.warning("%s is missing; resuming to write it", Path(run_dir) / REPORT_FILE)
            complete = False
        if complete:
            for name, problem in OutputManifest(run_dir).problems().items():
                logger.warning(
                    "output %s failed its check (%s); resuming to write it again",
                    Path(run_dir) / name,
                    problem,
                )
                complete = False
    return bool(shared_from_main(runtime, complete))


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, the first SIGTERM raises :class:`RunTerminated` in the main thread (later
    ones are ignored while the run closes). Outside the main thread this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def on_sigterm(signum: int, frame: object) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise RunTerminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def log_traceback_to_run_log(ctx: RunContext, message: str) -> None:
    """Append ``message`` and the traceback being handled to the run folder's ``run.log`` only.

    The console gets the command's one-line error instead (the traceback of an expected failure, such
    as a model that cannot load, is noise there).
    """
    if not ctx.is_main:
        return
    handler = logging.FileHandler(ctx.dir / LOG_FILE, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT, DATE_FORMAT))
    file_only = logging.getLogger("workbench.runs.failure")
    file_only.propagate = False
    file_only.addHandler(handler)
    try:
        file_only.exception(message)
    finally:
        file_only.removeHandler(handler)
        handler.close()


def load_run_config(run_dir: str | Path) -> ExperimentConfig:
    """The validated config saved in a run folder."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file() or not (run_dir / RUN_FILE).is_file():
        raise ConfigError(
            f"{str(run_dir)!r} is not a run folder (it needs {CONFIG_FILE} and {RUN_FILE}); "
            "pass the folder that `workbench run` printed"
        )
    return validate_config(read_config_file(run_dir / CONFIG_FILE))


def resume_run(run_dir: str | Path, force: bool = False) -> Path:
    """Continue an interrupted run in its folder with its saved config; finished work items (whose
    checkpoints pass their checksums) are skipped through the checkpoint API.

    A completed run is left as it is unless ``force`` (see :func:`run_experiment`).
    """
    check_unlocked(run_dir)  # refuse a busy folder before loading anything
    cfg = load_run_config(run_dir)
    return run_experiment(cfg, run_dir=run_dir, resumed=True, force=force)
