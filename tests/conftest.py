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


@pytest.fixture
def launch_cpu_processes():
    """``launch(args, processes=2, timeout=300, cpu_flag=True) -> CompletedProcess``: ``accelerate launch``
    of ``args`` (a script and its arguments, or ``["-m", module, ...]``) over CPU processes.

    ``accelerate launch --cpu --num_processes N`` starts several processes only through ``mpirun``, so the
    launch uses ``--multi_gpu`` (torch's launcher) with ``ACCELERATE_USE_CPU`` (``cpu_flag``; the runtime
    then uses the CPU even on a GPU machine): the processes exchange data over ``gloo`` on the CPU as they
    would over NCCL under a GPU launch. Two failures that are the machine's get more tries: a port taken
    between choosing and binding it, and gloo's teardown race at exit on a loaded machine ("terminate called
    without an active exception").
    """
    import shutil
    import signal
    import socket
    import subprocess
    import sys

    launcher = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or shutil.which("accelerate")
    assert launcher is not None, "accelerate's launcher is installed with the project (make setup)"
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    env.pop("ACCELERATE_USE_CPU", None)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)

    retried = ("address already in use", "terminate called without an active exception")

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def launch(
        args: list[str], processes: int = 2, timeout: float = 300, cpu_flag: bool = True
    ) -> subprocess.CompletedProcess:
        run_env = dict(env, ACCELERATE_USE_CPU="true") if cpu_flag else env
        for _attempt in range(3):
            command = [launcher, "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
                       "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
                       *args]  # fmt: skip
            child = subprocess.Popen(command, env=run_env, cwd=root, text=True, start_new_session=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
            try:
                stdout, stderr = child.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)  # the launcher and the processes it started
                child.communicate()
                raise
            proc = subprocess.CompletedProcess(command, child.returncode, stdout, stderr)
            stderr = proc.stderr.lower()
            if proc.returncode == 0 or not any(m in stderr for m in retried):
                break
        assert proc.returncode == 0, proc.stderr[-4000:]
        return proc

    return launch
