"""What the attacks add to the workbench: the image attacks and watermarks, the ``watermark``,
``attack`` and ``masterprints`` commands, the watermark-robustness and master-print experiments with
their tour steps. Named as an entry point of group ``workbench.plugins``; entries are declared by name
and the module that registers them, imported when first used."""

from __future__ import annotations

from attacks import cli
from attacks.masterprints import cli as masterprints_cli
from attacks.registries import IMAGE_ATTACKS, WATERMARKS
from workbench.commands import COMMANDS
from workbench.experiments import declare_experiment
from workbench.experiments_builtin.steps import TOUR_STEPS

IMAGE_ATTACK_NAMES = (
    "blur", "brightness", "combo", "contrast", "crop", "diffusion_regen", "jpeg", "noise", "paraphrase",
    "resize", "rotation", "vae_regen",
)  # fmt: skip
WATERMARK_NAMES = ("dwtDct", "dwtDctSvd", "gaussian_shading", "rivaGan", "treering")

for _name in IMAGE_ATTACK_NAMES:
    IMAGE_ATTACKS.add_lazy(_name, "attacks.image")  # the package registers every attack
for _name in WATERMARK_NAMES:
    WATERMARKS.add_lazy(_name, "attacks.watermarks")
COMMANDS.add("attacks", cli.register)
COMMANDS.add("masterprints", masterprints_cli.register)
declare_experiment("masterprints", "attacks.masterprints.experiment")
declare_experiment("watermark_bench", "attacks.watermarks.experiment")
TOUR_STEPS.add_lazy("masterprints", "attacks.masterprints.tour")
TOUR_STEPS.add_lazy("watermarks", "attacks.watermarks.tour")
