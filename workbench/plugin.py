"""What the runtime itself adds: the ``smoke`` and ``tour`` experiments. Named as an entry point of
group ``workbench.plugins`` like every other package's plugin."""

from __future__ import annotations

from workbench.experiments_builtin import smoke, tour  # noqa: F401  (register the experiments)
