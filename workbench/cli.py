"""The ``workbench`` command.

    workbench run CONFIG [--set key.path=value ...] [--output-dir DIR]
    workbench run --resume RUN_DIR [--force]
    workbench report RUN_DIR
    workbench models [--check NAME [--kind KIND]]
    workbench demo [NAME] [--port PORT]
    workbench experiments

Errors: bad input ends with one ``error: ...`` line on stderr and a non-zero exit status (2 for bad
arguments, configs and files, 1 for models that cannot load and files that cannot be written). Any other
error also ends with one line, naming a log file that holds its traceback; ``--debug`` (or
``WORKBENCH_DEBUG=1``) prints the traceback instead.

Packages add sub-commands from their plugin (:mod:`workbench.plugins`) by registering
``add(subparsers)`` in :data:`workbench.commands.COMMANDS`; each sub-parser sets ``func=handler`` with
``handler(args) -> int | None``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from workbench.commands import COMMANDS
from workbench.config import ConfigError, load_config
from workbench.experiments import EXPERIMENTS, load_experiment_modules
from workbench.loading import ModelNotAvailableError, UnsafeCheckpointError
from workbench.logging_utils import setup_logging
from workbench.plugins import load_plugins

logger = logging.getLogger("workbench.cli")

EPILOG = """examples:
  workbench run examples/smoke.yaml                         # a complete run in seconds (random weights)
  workbench run examples/tour.yaml --set generate.images_per_prompt=4
  workbench run --resume runs/smoke-20261128-120000-s0        # continue a killed run
  workbench report runs/smoke-20261128-120000-s0              # rebuild its report.html
  workbench models --check sd15                               # can sd15 load here? (exit 1 with the reason)
  workbench demo                                              # the demo hub on http://127.0.0.1:7860
"""


# ---------------------------------------------------------------------------------------------- handlers
def cmd_run(args: argparse.Namespace) -> int:
    from workbench.runs import resume_run, run_experiment  # deferred: PIL, numpy, torch

    if args.resume:
        if args.config or args.set or args.output_dir:
            raise ConfigError(
                "--resume continues a run with the config saved in its folder; do not pass CONFIG, --set or --output-dir"
            )
        run_dir = resume_run(args.resume, force=args.force)
    else:
        if args.force:
            raise ConfigError("--force goes with --resume RUN_DIR (it reruns the steps of a completed run)")
        if not args.config:
            raise ConfigError(
                "workbench run needs a CONFIG file (e.g. examples/smoke.yaml) or --resume RUN_DIR"
            )
        cfg = load_config(args.config, args.set or [])
        check_output_dir(args.output_dir if args.output_dir is not None else cfg.output_dir)
        run_dir = run_experiment(cfg, output_dir=args.output_dir, inputs={"config file": args.config})
    from accelerate import PartialState

    from workbench.runtime import end_process_group  # deferred: numpy, torch

    if PartialState().is_main_process:
        logger.info("report: %s", run_dir / "report.html")
        sys.stdout.flush()
        print(run_dir)  # the last line of stdout: the run folder
    end_process_group()
    return 0


def check_output_dir(folder: str | Path) -> None:
    """Refuse an output folder that is a file, or lies under a file, before a run starts.

    Raises:
        ConfigError: naming the file in the way.
    """
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"output folder {str(path)!r} is a file; pass a folder (--output-dir DIR)")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(
                    f"output folder {str(path)!r} cannot be created: {str(parent)!r} is a file; pass another folder"
                )
            if not os.access(parent, os.W_OK):
                raise ConfigError(
                    f"output folder {str(path)!r} cannot be created: {str(parent)!r} is not writable"
                )
            return


def cmd_report(args: argparse.Namespace) -> int:
    from workbench.runs import write_run_report  # deferred: PIL, numpy, torch

    path = write_run_report(args.run_dir)
    print(path)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    # deferred: torch, diffusers, transformers (loaded on first use)
    from workbench.loading import check_model, presets, resolve_model

    if args.check:
        for line in check_model(args.check, kind=args.kind):
            print(line)
        return 0
    rows = []
    for preset in presets().values():
        for kind in preset.sources:
            r = resolve_model(preset.name, kind=kind)
            where = str(r.local_path) if r.local_path else r.source
            rows.append(
                (preset.name, kind, "yes" if r.available else "no", where, "" if r.available else r.reason)
            )
    widths = [
        max(len(row[i]) for row in rows + [("preset", "kind", "available", "loads from", "")])
        for i in range(4)
    ]
    header = ("preset", "kind", "available", "loads from")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row[:4], widths)))
        if row[4]:
            print(" " * (widths[0] + 2) + "-> " + row[4])
    print(
        "\nAny hub id (owner/model) or local folder works as well; `workbench models --check NAME` tries to load it."
    )
    return 0


def cmd_experiments(args: argparse.Namespace) -> int:
    load_experiment_modules()
    for name in EXPERIMENTS.names():
        spec = EXPERIMENTS.get(name)
        print(f"{name:24s} {spec.config.__name__:24s} {spec.description}")
    return 0


# ---------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Generation and robustness research workbench: run experiments, rebuild reports, "
        "check models, launch demos.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO (default), WARNING or ERROR")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="print the traceback of an unexpected error (also: WORKBENCH_DEBUG=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "run",
        help="run an experiment config into a new run folder (prints the folder last)",
        description="Run the experiment named by CONFIG's `experiment` field. The run folder holds the resolved "
        "config, run.json (seed, versions, git revision), outputs/, metrics.json, metrics.csv, run.log and "
        "report.html; its path is the last line printed.",
    )
    p.add_argument("config", nargs="?", help="YAML or TOML experiment config (e.g. examples/smoke.yaml)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config field, value parsed as YAML (repeatable): --set generate.num_inference_steps=20",
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted run in its folder, skipping finished work (a completed run is left as it is)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="with --resume: run the steps of a completed run again (finished work items are still reused)",
    )
    p.add_argument(
        "--output-dir",
        metavar="DIR",
        help="where to create the run folder (default: the config's output_dir)",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="rebuild RUN_DIR/report.html from the run's saved sections")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "models",
        help="list model presets, where each loads from and whether it is available here",
        description="Without --check: list presets. With --check NAME (preset, hub id or folder): load it on the CPU "
        "and exit non-zero with the reason when it cannot load.",
    )
    p.add_argument("--check", metavar="NAME", help="try to load NAME; exit 1 with the reason if it cannot")
    p.add_argument(
        "--kind", choices=["sd", "clip", "captioner", "judge", "vision"], help="the model kind to check"
    )
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("experiments", help="list registered experiments and their config classes")
    p.set_defaults(func=cmd_experiments)

    load_plugins()
    for name in COMMANDS.names():
        COMMANDS.get(name)(sub)
    return parser


DEBUG_ENV = "WORKBENCH_DEBUG"
ERROR_LOG_ENV = "WORKBENCH_ERROR_LOG"


def error_log_path() -> Path:
    """Where an unexpected error's traceback is written: ``$WORKBENCH_ERROR_LOG``, else
    ``~/.cache/workbench/last-error.log`` (under ``$XDG_CACHE_HOME`` when set)."""
    if os.environ.get(ERROR_LOG_ENV):
        return Path(os.environ[ERROR_LOG_ENV])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "workbench" / "last-error.log"


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` (a ``KeyError``'s text unquoted); an OS error names its file."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def _expected_status(exc: BaseException) -> int | None:
    """The exit status of an expected error (bad input, unavailable model, unwritable file), else None."""
    from PIL.Image import DecompressionBombError

    if isinstance(exc, KeyError):  # registries raise sentences ("unknown attack 'x'; known: ..."),
        return 2 if " " in _one_line(exc) else None  # a bare missing key is a bug
    if isinstance(exc, (ConfigError, DecompressionBombError, ValueError)):
        return 2
    if isinstance(exc, (ModelNotAvailableError, UnsafeCheckpointError, OSError)):
        return 1
    return None


def report_unexpected(exc: BaseException, debug: bool) -> int:
    """Print one line for an unexpected error (the traceback goes to a log, or to stderr in debug)."""
    text = "".join(traceback.format_exception(exc))
    if debug:
        sys.stderr.write(text)
        print(f"error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 1
    where = error_log_path()
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(f"workbench {' '.join(sys.argv[1:])}\n{text}", encoding="utf-8")
        hint = f"the traceback is in {where}"
    except OSError:
        hint = f"run with --debug or {DEBUG_ENV}=1 for the traceback"
    print(f"error: unexpected {type(exc).__name__}: {_one_line(exc)} ({hint})", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``workbench`` console command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        status = _expected_status(exc)
        if status is None:
            return report_unexpected(exc, debug)
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
