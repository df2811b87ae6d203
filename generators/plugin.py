"""What the generators add to the workbench: the layout generators (box guidance, BoxDiff, regions,
GLIGEN, GCDP), the multi-concept ones (FreeCustom, text only, collage) and the retrieval-augmented ones, the layout, multi-concept and retrieval experiments with their tour steps and commands, and
the retrieval and GCDP toy trainers. Named as an entry point of group ``workbench.plugins`` in
``pyproject.toml``; entries are declared by name and the module that registers them, imported when
first used."""

from __future__ import annotations

from generators.layout import cli as layout_cli
from generators.multiconcept import cli as multiconcept_cli
from generators.retrieval import cli as retrieval_cli
from toyworld.train.registry import TRAINERS, lazy_trainer
from workbench.commands import COMMANDS
from workbench.experiments import declare_experiment
from workbench.experiments_builtin.steps import TOUR_STEPS
from workbench.generation import GENERATORS

GENERATORS.add_lazy("box_guidance", "generators.layout.box_guidance.generator")
GENERATORS.add_lazy("boxdiff", "generators.layout.box_guidance.generator")
GENERATORS.add_lazy("regions", "generators.layout.regions.generator")
GENERATORS.add_lazy("gligen", "generators.layout.gligen.generator")
GENERATORS.add_lazy("gcdp", "generators.layout.gcdp.generator")
GENERATORS.add_lazy("gcdp_layout", "generators.layout.gcdp.generator")
GENERATORS.add_lazy("freecustom", "generators.multiconcept.freecustom")
GENERATORS.add_lazy("text", "generators.multiconcept.text_only")
GENERATORS.add_lazy("collage", "generators.multiconcept.collage")
for _mode in ("reference", "conditioned", "blend"):
    GENERATORS.add_lazy(f"retrieval_{_mode}", f"generators.retrieval.methods.{_mode}")
COMMANDS.add("layout", layout_cli.register)
COMMANDS.add("multiconcept", multiconcept_cli.register)
COMMANDS.add("retrieval", retrieval_cli.register)
declare_experiment("layout-eval", "generators.layout.experiment")
declare_experiment("multiconcept", "generators.multiconcept.experiment")
declare_experiment("entity-draw-bench", "generators.retrieval.experiment")
for _family in ("layout", "multiconcept", "retrieval"):
    TOUR_STEPS.add_lazy(_family, f"generators.{_family}.tour")
TRAINERS.add("retrieval", lazy_trainer("generators.retrieval.train", "RetrievalTrainer"))
TRAINERS.add("gcdp", lazy_trainer("generators.layout.gcdp.train", "GCDPTrainer"))
