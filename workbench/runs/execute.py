"""Running an experiment into a run folder, and resuming one."""

from __future__ import annotations

import datetime as _dt
import logging
import re
from pathlib import Path

from workbench.config import ConfigError, ExperimentConfig, read_config_file, validate_config
from workbench.logging_utils import DATE_FORMAT, LOG_FORMAT
from workbench.runs.context import CONFIG_FILE, LOG_FILE, RUN_FILE, RunContext
from workbench.runtime import Runtime

logger = logging.getLogger(__name__)


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
    )


def run_experiment(
    cfg: ExperimentConfig,
    output_dir: str | Path | None = None,
    run_dir: str | Path | None = None,
    resumed: bool = False,
    inputs: dict[str, str | Path] | None = None,
) -> Path:
    """Run ``cfg``'s experiment in a new run folder (or in ``run_dir``) and return the folder.

    ``inputs`` (name -> file or folder) are hashed into ``run.json``. The run's status in ``run.json`` ends as ``completed``, ``failed`` (the exception is re-raised) or
    ``interrupted`` (Ctrl-C).
    """
    from workbench.experiments import get_experiment

    spec = get_experiment(cfg.experiment)
    runtime = make_runtime(cfg)
    if not runtime.is_main:  # one voice on the console: the main process's
        logging.getLogger().setLevel(logging.WARNING)
    if run_dir is None:
        run_dir = new_run_dir(cfg, output_dir)
        if runtime.num_processes > 1:  # every process must use the main process's folder name
            from accelerate.utils import broadcast_object_list

            run_dir = Path(broadcast_object_list([str(run_dir)])[0])
    ctx = RunContext(run_dir, cfg, runtime, resumed=resumed).open()
    for name, path in (inputs or {}).items():
        ctx.record_input(path, name=name)
    try:
        spec.run(ctx, cfg)
    except KeyboardInterrupt:
        ctx.close(status="interrupted")
        raise
    except BaseException as exc:
        log_traceback_to_run_log(ctx, f"experiment {cfg.experiment!r} failed")
        ctx.close(status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    ctx.close(status="completed")
    return ctx.dir


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


def resume_run(run_dir: str | Path) -> Path:
    """Continue an interrupted run in its folder with its saved config; finished work items are
    skipped through the checkpoint API."""
    cfg = load_run_config(run_dir)
    return run_experiment(cfg, run_dir=run_dir, resumed=True)
