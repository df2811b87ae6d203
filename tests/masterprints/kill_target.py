"""A mining run for the kill-and-resume test: ``python -m tests.masterprints.kill_target CKPT OUT``.

Mines with CMA-ES on a tiny CLIP, checkpointing after every step, and writes the result's best loss
and evaluations to OUT (JSON) when it finishes.
"""

from __future__ import annotations

import json
import sys

import torch

from attacks.masterprints import (
    BlackBoxScorer,
    BudgetConfig,
    CLIPScorer,
    FileCheckpoint,
    MultiPromptObjective,
    build_optimizer,
    build_space,
    mine,
)
from workbench.runtime import Runtime

from .tiny_models import PROMPTS, tiny_clip, word_tokenizer

EVALUATIONS = 1600


def build(scorer=None):
    """The optimiser of the test run (a fresh one each call)."""
    scorer = scorer or CLIPScorer(tiny_clip(0), word_tokenizer())
    space = build_space({"name": "pixels", "param_size": 8}, image_size=32)
    obj = MultiPromptObjective(BlackBoxScorer.from_scorer(scorer, PROMPTS), PROMPTS)
    return build_optimizer({"name": "cma", "popsize": 8}, space, obj, Runtime(seed=0, device="cpu"))


def main(ckpt: str, out: str) -> None:
    torch.set_num_threads(1)
    result = mine(
        build(), BudgetConfig(evaluations=EVALUATIONS), checkpoint=FileCheckpoint(ckpt), checkpoint_every=0.0
    )
    with open(out, "w") as f:
        json.dump(
            {"best_loss": result.best_loss, "evaluations": result.evaluations, "steps": result.steps}, f
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
