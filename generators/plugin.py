"""What the generators add to the workbench: the layout generators (box guidance, BoxDiff, regions,
GLIGEN), the layout, multi-concept and retrieval experiments with their tour steps and commands, and the
retrieval toy trainer. Named as an entry point of group
``workbench.plugins`` in ``pyproject.toml``."""

from __future__ import annotations

from generators.layout import cli as layout_cli
from generators.layout import experiment as layout_experiment  # noqa: F401
from generators.layout import methods as layout_methods  # noqa: F401  (registers the layout generators)
from generators.layout import tour as layout_tour  # noqa: F401
from generators.multiconcept import cli as multiconcept_cli
from generators.multiconcept import experiment as multiconcept_experiment  # noqa: F401
from generators.multiconcept import tour as multiconcept_tour  # noqa: F401
from generators.retrieval import cli as retrieval_cli
from generators.retrieval import experiment as retrieval_experiment  # noqa: F401
from generators.retrieval import tour as retrieval_tour  # noqa: F401
from toyworld.train.registry import TRAINERS, lazy_trainer
from workbench.commands import COMMANDS

COMMANDS.add("layout", layout_cli.register)
COMMANDS.add("multiconcept", multiconcept_cli.register)
COMMANDS.add("retrieval", retrieval_cli.register)
TRAINERS.add("retrieval", lazy_trainer("generators.retrieval.train", "RetrievalTrainer"))
