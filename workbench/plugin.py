"""What the runtime itself adds: the ``smoke`` and ``tour`` experiments. Named as an entry point of
group ``workbench.plugins`` like every other package's plugin; entries are declared by name and the
module that registers them, imported when first used."""

from __future__ import annotations

from workbench.experiments import declare_experiment

declare_experiment("smoke", "workbench.experiments_builtin.smoke")
declare_experiment("tour", "workbench.experiments_builtin.tour")
