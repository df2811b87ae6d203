"""What the toy world adds to the workbench: its model presets (``toy``, ``toy-ref``), the
``workbench toy`` commands, the ``toy-eval`` experiment and its tour step, and the toy trainers.
Named as an entry point of group ``workbench.plugins`` in ``pyproject.toml``; entries are declared by
name and the module that registers them, imported when first used."""

from __future__ import annotations

from toyworld import cli
from toyworld.presets import TOY_PRESETS
from toyworld.train import registry  # noqa: F401  (declares the trainers)
from workbench.commands import COMMANDS
from workbench.experiments import declare_experiment
from workbench.experiments_builtin.steps import TOUR_STEPS
from workbench.loading import register_preset

for _preset in TOY_PRESETS:
    register_preset(_preset)
COMMANDS.add("toy", cli.register)
declare_experiment("toy-eval", "toyworld.experiment")
TOUR_STEPS.add_lazy("toy_world", "toyworld.experiment")
