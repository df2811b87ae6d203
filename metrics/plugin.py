"""What the metrics layer adds to the workbench: the ``workbench score`` command. Named as an entry
point of group ``workbench.plugins`` in ``pyproject.toml``."""

from __future__ import annotations

from metrics import cli
from workbench.commands import COMMANDS

COMMANDS.add("score", cli.register)
