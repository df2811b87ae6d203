"""What the attacks add to the workbench: the image attacks and watermarks (their registries), the
``watermark``, ``attack`` and CLIPMasterPrints commands, the watermark-robustness and master-print
experiments with their tour steps. Named as an entry point of group ``workbench.plugins``."""

from __future__ import annotations

import attacks.image  # noqa: F401  (fills IMAGE_ATTACKS)
import attacks.watermarks  # noqa: F401  (fills WATERMARKS)
from attacks import cli
from attacks.masterprints import cli as masterprints_cli
from attacks.masterprints import experiment as masterprints_experiment  # noqa: F401
from attacks.masterprints import tour as masterprints_tour  # noqa: F401
from attacks.watermarks import experiment as watermarks_experiment  # noqa: F401
from attacks.watermarks import tour as watermarks_tour  # noqa: F401
from workbench.commands import COMMANDS

COMMANDS.add("attacks", cli.register)
COMMANDS.add("masterprints", masterprints_cli.register)
