"""Logging set-up: messages go to stderr (stdout stays free for command results) and, during a run, to
the run folder's ``run.log``."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_CONSOLE_FLAG = "_workbench_console"

# Libraries that are chatty at INFO.
_QUIET = ("httpx", "httpcore", "urllib3", "matplotlib", "PIL", "filelock", "asyncio", "uvicorn.access")


class _StderrHandler(logging.StreamHandler):
    """A stream handler writing to whatever ``sys.stderr`` is when a record is emitted (so a replaced
    or captured stderr never receives writes on a stale, closed stream)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # the current sys.stderr is always used
        pass


def setup_logging(level: str | int | None = None) -> None:
    """Send log records of every package to stderr once (idempotent).

    Args:
        level: a ``logging`` level name or number; defaults to ``$WORKBENCH_LOG_LEVEL`` or ``INFO``.
    """
    level = level or os.environ.get("WORKBENCH_LOG_LEVEL", "INFO")
    root = logging.getLogger()
    root.setLevel(level if isinstance(level, int) else str(level).upper())
    if not any(getattr(h, _CONSOLE_FLAG, False) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT, DATE_FORMAT))
        setattr(handler, _CONSOLE_FLAG, True)
        root.addHandler(handler)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def add_file_handler(path: str | Path, level: int = logging.INFO) -> logging.Handler:
    """Append every log record to ``path`` until :func:`remove_handler` is called with the result."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, DATE_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    return handler


def remove_handler(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()
