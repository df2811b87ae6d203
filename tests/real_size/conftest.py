"""Fixtures of the real-size runs: the four model folders, written once per session.

``REAL_SIZE_MODELS=DIR`` keeps them in ``DIR`` between sessions (about 12 GB; folders already there are
reused); otherwise they go to a temporary folder. ``REAL_SIZE_OUT=FILE`` appends every row to a
JSON-lines file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "real_size.py"


@pytest.fixture(scope="session")
def real_models(tmp_path_factory) -> Path:
    """The folder holding ``sd15/``, ``sd21-base/``, ``clip-l14/`` and ``blip-base/``."""
    folder = Path(os.environ.get("REAL_SIZE_MODELS") or tmp_path_factory.mktemp("real-size-models"))
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, str(SCRIPT), "build", str(folder)], check=True, cwd=ROOT)
    return folder
