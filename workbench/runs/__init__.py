"""Run folders: the context an experiment writes through, checkpoints, metrics and reports."""

from workbench.runs.checkpoint import Checkpoint, CorruptCheckpointError
from workbench.runs.context import RunContext
from workbench.runs.execute import RunTerminated, load_run_config, new_run_dir, resume_run, run_experiment
from workbench.runs.lock import RunLock, RunLockedError
from workbench.runs.manifest import OutputManifest
from workbench.runs.metrics import MetricsLog, flatten_metrics
from workbench.runs.summary import write_run_report

__all__ = [
    "Checkpoint",
    "CorruptCheckpointError",
    "MetricsLog",
    "OutputManifest",
    "RunContext",
    "RunLock",
    "RunLockedError",
    "RunTerminated",
    "flatten_metrics",
    "load_run_config",
    "new_run_dir",
    "resume_run",
    "run_experiment",
    "write_run_report",
]
