"""What the toy world adds to the workbench: its model presets (``toy``, ``toy-ref``), the
``workbench toy`` commands, the ``toy-eval`` experiment (and its tour step) and the toy trainers.
Named as an entry point of group ``workbench.plugins`` in ``pyproject.toml``."""

from __future__ import annotations

from toyworld import cli, experiment  # noqa: F401  (registers the experiment and its tour step)
from toyworld.presets import TOY_PRESETS
from toyworld.train import registry  # noqa: F401  (registers the trainers)
from workbench.commands import COMMANDS
from workbench.loading import register_preset

for _preset in TOY_PRESETS:
    register_preset(_preset)
COMMANDS.add("toy", cli.register)
