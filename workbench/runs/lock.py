"""One process per run folder: ``run.lock``, an exclusive ``flock`` that names its holder.

The main process of a run holds the lock from before it touches the folder until the run ends. The
file holds the holder's PID, host and start time (JSON) for the message a second process gets; the
kernel releases the ``flock`` when the holder exits however it exits, so a lock left by a killed
process (its PID no longer running) is simply taken over: :attr:`RunLock.stale_holder` then holds the
record it replaced, which the run logs (:func:`stale_message`).

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with RunLock(folder):
    ...     RunLock(folder).acquire()
    Traceback (most recent call last):
    ...
    workbench.runs.lock.RunLockedError: run folder ... is in use by PID ...
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

from workbench.config import ConfigError
from workbench.runs.metadata import now_iso

try:  # POSIX; elsewhere the holder's PID alone decides
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

LOCK_FILE = "run.lock"
_ATTEMPTS = 5


class RunLockedError(ConfigError):
    """Another live process holds the run folder's lock."""


class RunLock:
    """The exclusive lock of one run folder (re-entrant: acquiring a held lock is a no-op).

    Args:
        run_dir: the run folder (created when missing).
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        self.path = self.dir / LOCK_FILE
        self._fd: int | None = None
        self.stale_holder: dict[str, Any] | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock, or raise :class:`RunLockedError` naming the live holder's PID."""
        if self.held:
            return self
        for _ in range(_ATTEMPTS):
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise RunLockedError(f"cannot lock run folder {self.dir}: {exc}") from None
            if not _try_flock(fd, self.path):
                holder = _read_holder(fd)
                os.close(fd)
                raise RunLockedError(_busy_message(self.dir, holder))
            if _same_file(fd, self.path):  # not a file its last holder unlinked meanwhile
                self._fd = fd
                self._claim()
                return self
            os.close(fd)
        raise RunLockedError(f"run folder {self.dir} is in use: its lock file keeps changing")

    def release(self) -> None:
        """Give the lock back and remove ``run.lock`` (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(fd)  # closing the descriptor releases the flock

    def _claim(self) -> None:
        """Record this process as the holder, keeping a stale holder's record in ``stale_holder``."""
        assert self._fd is not None
        previous = _read_holder(self._fd)
        self.stale_holder = previous if previous.get("pid") not in (None, os.getpid()) else None
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": now_iso()}
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, (json.dumps(record) + "\n").encode(), 0)
        os.fsync(self._fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def check_unlocked(run_dir: str | Path) -> None:
    """Raise :class:`RunLockedError` when a live process on this host holds ``run_dir``'s lock.

    A quick look before a resume loads anything (it takes no lock: :meth:`RunLock.acquire` decides).
    """
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # no lock file, or none readable here: RunLock.acquire decides
    try:
        holder = _read_holder(fd)
        pid = holder.get("pid")
        if holder.get("host", socket.gethostname()) != socket.gethostname():
            return
        if not isinstance(pid, int) or pid == os.getpid() or not _pid_running(pid):
            return
        if _try_flock(fd, path):
            return  # closing the descriptor below releases this look's flock
        raise RunLockedError(_busy_message(Path(run_dir), holder))
    finally:
        os.close(fd)


def stale_message(lock: RunLock) -> str | None:
    """The log line for a stale lock ``lock`` took over (``None`` when there was none)."""
    old = lock.stale_holder
    if not old:
        return None
    where = f" on {old['host']}" if old.get("host") else ""
    return f"took over the stale lock of {lock.dir}: PID {old.get('pid')}{where} is no longer running"


def read_holder(run_dir: str | Path) -> dict[str, Any]:
    """The holder recorded in ``run_dir/run.lock`` (``{}`` when there is none)."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return {}
    try:
        return _read_holder(fd)
    finally:
        os.close(fd)


def _try_flock(fd: int, path: Path) -> bool:
    """Take an exclusive ``flock`` on ``fd`` without waiting; ``False`` when a live process holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            logger.debug("flock is not supported on %s (%s); deciding by the holder's PID", path, exc)
    pid = _read_holder(fd).get("pid")
    return not (isinstance(pid, int) and pid != os.getpid() and _pid_running(pid))


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        raw = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        holder = json.loads(raw) if raw.strip() else {}
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _busy_message(run_dir: Path, holder: dict[str, Any]) -> str:
    pid = holder.get("pid")
    if pid is None:
        return f"run folder {run_dir} is in use by another process (it is starting); wait for it to end"
    where = f" on {holder['host']}" if holder.get("host") else ""
    since = f" since {holder['since']}" if holder.get("since") else ""
    return (
        f"run folder {run_dir} is in use by PID {pid}{where}{since}; "
        f"wait for it to end, or stop it (kill {pid}) and resume again"
    )
