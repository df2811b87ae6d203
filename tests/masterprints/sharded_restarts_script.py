"""Mines 3 CMA-ES restarts sharded over the processes; run with or without ``accelerate launch``.

Usage: python sharded_restarts_script.py OUT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny_models import PROMPTS, tiny_clip, word_tokenizer  # noqa: E402

from attacks.masterprints import (  # noqa: E402
    BlackBoxScorer,
    BudgetConfig,
    MultiPromptObjective,
    build_optimizer,
    build_space,
)
from attacks.masterprints.restarts import mine_restarts, restart_key  # noqa: E402
from attacks.masterprints.scorers import CLIPScorer  # noqa: E402
from workbench.runtime import Runtime  # noqa: E402

RESTARTS = 3


def main(out_path: str) -> None:
    rt = Runtime(seed=0, device="cpu")
    scorer = CLIPScorer(tiny_clip(0), word_tokenizer())
    space = build_space({"name": "pixels", "param_size": 4, "init": "uniform"}, image_size=32)
    objective = MultiPromptObjective(BlackBoxScorer.from_scorer(scorer, PROMPTS), PROMPTS)

    def make(r: int):
        return build_optimizer(
            {"name": "cma", "popsize": 6, "key": restart_key("master", r)}, space, objective, rt
        )

    result = mine_restarts(make, RESTARTS, BudgetConfig(evaluations=24), rt)
    out = {
        "num_processes": rt.num_processes,
        "losses": result.losses,
        "best_restart": result.best_restart,
        "best_params": result.best.params.flatten().tolist(),
        "evaluations": result.evaluations,
    }
    if rt.is_main:
        with open(out_path, "w") as f:
            json.dump(out, f)
    rt.close()


if __name__ == "__main__":
    main(sys.argv[1])
