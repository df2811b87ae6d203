"""The workbench runtime: configs, runs, the accelerate-driven ``Runtime``, model loading, attention
processors, registries and plugins (``docs/architecture.md``)."""

from workbench import quiet as _quiet

_quiet.install()
