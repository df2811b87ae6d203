"""``outputs.sha256``: the SHA-256 of every output file a run wrote through its :class:`RunContext`.

The format is ``sha256sum``'s (``<hex>  outputs/<name>``, paths relative to the run folder), so
``cd RUN_DIR && sha256sum -c outputs.sha256`` checks a finished run by hand. While a run goes, one line
is appended right after each output's atomic rename (the last line of a path wins; a line torn by a
kill is ignored); when the run closes the file is rewritten atomically with one sorted line per path.
An output written but killed before its line is unrecorded: it is neither trusted nor removed, and
the resumed run writes it again.

Example:
    >>> import tempfile, pathlib
    >>> run = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (run / "outputs").mkdir(), (run / "outputs" / "a.txt").write_text("a")
    >>> manifest = OutputManifest(run)
    >>> manifest.record(run / "outputs" / "a.txt")[:12]
    'ca978112ca1b'
    >>> manifest.problems()
    {}
    >>> _ = (run / "outputs" / "a.txt").write_text("b")
    >>> manifest.problems()
    {'outputs/a.txt': 'its bytes do not match its checksum'}
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from workbench.io import atomic_write_text, sha256_file

logger = logging.getLogger(__name__)

MANIFEST_FILE = "outputs.sha256"
_LINE = re.compile(r"^([0-9a-f]{64})  (.+)$")


class OutputManifest:
    """The checksums of a run folder's outputs (main process only).

    Args:
        run_dir: the run folder; paths are recorded relative to it.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        self.path = self.dir / MANIFEST_FILE
        self.entries: dict[str, str] = self._read()

    def record(self, file: str | Path) -> str:
        """Hash ``file`` (just written, inside the run folder) and append its line; returns the digest."""
        name = Path(file).resolve().relative_to(self.dir.resolve()).as_posix()
        digest = sha256_file(file)
        self.entries[name] = digest
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(f"{digest}  {name}\n")
        return digest

    def problems(self) -> dict[str, str]:
        """Recorded outputs that are missing or whose bytes changed: ``{path: what is wrong}``."""
        found: dict[str, str] = {}
        for name, expected in sorted(self.entries.items()):
            file = self.dir / name
            if not file.is_file():
                found[name] = "it is missing"
            elif sha256_file(file) != expected:
                found[name] = "its bytes do not match its checksum"
        return found

    def discard_bad(self) -> list[str]:
        """Delete every recorded output that fails its check (one log line each) and forget it."""
        bad = self.problems()
        for name, problem in bad.items():
            logger.warning(
                "output %s failed its check (%s); discarded, it will be written again",
                self.dir / name,
                problem,
            )
            (self.dir / name).unlink(missing_ok=True)
            del self.entries[name]
        if bad:
            self.compact()
        return list(bad)

    def compact(self) -> None:
        """Rewrite the file atomically: one sorted line per recorded path."""
        if self.entries or self.path.exists():
            atomic_write_text(self.path, "".join(f"{d}  {n}\n" for n, d in sorted(self.entries.items())))

    def _read(self) -> dict[str, str]:
        entries: dict[str, str] = {}
        if not self.path.is_file():
            return entries
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            match = _LINE.match(line)
            if match:
                entries[match.group(2)] = match.group(1)
        return entries
