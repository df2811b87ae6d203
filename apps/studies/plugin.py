"""What the studies add to the workbench: their experiments, declared by name and module (imported when
first used). Named as an entry point of group ``workbench.plugins`` in ``pyproject.toml``."""

from __future__ import annotations

from workbench.experiments import declare_experiment

declare_experiment("master-prints-vs-retrieval", "apps.studies.poisoning.experiment")
declare_experiment("purification-vs-master-prints", "apps.studies.purification.experiment")
declare_experiment("watermarks-through-generators", "apps.studies.watermarks.experiment")
