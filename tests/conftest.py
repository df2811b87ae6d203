"""Test-wide settings: offline hub, no Gradio analytics, demo files in a temporary folder, one CPU
thread; shared fixtures (a CPU runtime, an open run context).

Markers (registered in pyproject.toml, ``--strict-markers``): ``slow`` (excluded by ``make test``),
``browser`` (headless Chromium; runs by default), ``gpu`` (skipped without CUDA).
"""

from __future__ import annotations

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WORKBENCH_APP_DIR", tempfile.mkdtemp(prefix="workbench-apps-"))

import pytest  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def runtime():
    """A CPU fp32 :class:`workbench.runtime.Runtime` with seed 0."""
    from workbench.runtime import Runtime

    return Runtime(seed=0, device="cpu")


@pytest.fixture
def run_ctx(tmp_path, runtime):
    """An open :class:`workbench.runs.RunContext` in ``tmp_path / "run"`` (closed after the test)."""
    from workbench.config import ExperimentConfig
    from workbench.runs import RunContext

    ctx = RunContext(tmp_path / "run", ExperimentConfig(experiment="test"), runtime).open()
    yield ctx
    ctx.close()
