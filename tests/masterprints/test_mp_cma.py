"""CMA-ES: starts where the space starts, resumes from its state (no replay), goes separable in
large spaces; nevergrad's hidden restarts and swallowed errors are logged."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from attacks.masterprints import (
    BlackBoxScorer,
    BudgetConfig,
    MemoryCheckpoint,
    MultiPromptObjective,
    build_optimizer,
    build_space,
    mine,
)
from workbench.runtime import Runtime

from .tiny_models import PROMPTS


class Counting(MultiPromptObjective):
    """The objective, counting the images it scores."""

    scored = 0

    def loss(self, images: torch.Tensor) -> torch.Tensor:
        Counting.scored += images.shape[0]
        return super().loss(images)


def _cma(scorer, space_cfg: dict, seed: int = 0, **opt):
    space = build_space(space_cfg, image_size=32)
    objective = Counting(BlackBoxScorer.from_scorer(scorer, PROMPTS), PROMPTS)
    return build_optimizer(
        {"name": "cma", "popsize": 6, **opt}, space, objective, Runtime(seed=seed, device="cpu")
    )


@pytest.mark.parametrize("init", ["gray", "uniform"])
def test_cma_starts_at_the_space_init(init, clip_scorer):
    opt = _cma(clip_scorer, {"name": "pixels", "param_size": 8, "init": init})
    start = opt.space.init(1, opt.generator("init"))
    assert np.allclose(opt.es.mean, opt.space.to_vectors(start)[0])
    if init == "gray":
        assert not opt.es.mean.any()  # mid-gray: the zero vector
    else:
        assert opt.es.mean.std() > 0.5  # uniform noise in [-0.5, 0.5] is 2 units of 0.25 wide


def test_separable_above_the_threshold(clip_scorer):
    assert not _cma(clip_scorer, {"name": "pixels", "param_size": 8}).separable  # 192 dims
    big = _cma(clip_scorer, {"name": "pixels", "param_size": 8}, separable_above=100)
    assert big.separable and big.es.C.shape == (192,)
    assert not _cma(clip_scorer, {"name": "pixels"}).separable  # 3 x 32 x 32 = 3,072 <= 4,096
    assert _cma(clip_scorer, {"name": "pixels"}, separable_above=3000).separable


def test_kill_and_resume_equals_uninterrupted_without_re_evaluating(clip_scorer):
    space = {"name": "pixels", "param_size": 8, "init": "gray"}
    straight = mine(_cma(clip_scorer, space), BudgetConfig(evaluations=60))
    store = MemoryCheckpoint()
    mine(_cma(clip_scorer, space), BudgetConfig(evaluations=30), checkpoint=store)  # "killed" at 30
    Counting.scored = 0
    resumed = mine(_cma(clip_scorer, space), BudgetConfig(evaluations=60), checkpoint=store)
    assert Counting.scored == 30  # only the 5 remaining generations of 6 were scored
    assert resumed.resumed_at == 5 and resumed.steps == straight.steps == 10
    assert resumed.best_loss == straight.best_loss
    assert torch.equal(resumed.params, straight.params)


def test_cma_reaches_a_quadratic_minimum():
    from attacks.masterprints.optimizers.cma_core import CMAES

    for separable in (False, True):
        es = CMAES(np.full(10, 2.0), 0.5, popsize=10, separable=separable)
        for g in range(150):
            x = es.ask(torch.Generator().manual_seed(g))
            es.tell(x, (x**2 * np.arange(1, 11)).sum(1))
        assert np.abs(es.mean).max() < 1e-3, separable


def test_nevergrad_restarts_and_swallowed_tells_are_logged(clip_scorer, caplog):
    space = build_space({"name": "pixels", "param_size": 4}, image_size=32)
    objective = MultiPromptObjective(BlackBoxScorer.from_scorer(clip_scorer, PROMPTS), PROMPTS)
    opt = build_optimizer(
        {"name": "one_plus_one", "popsize": 4}, space, objective, Runtime(seed=0, device="cpu")
    )

    class ES:
        countiter = 3

    es = ES()
    opt.ng._es = es
    with caplog.at_level(logging.WARNING):
        opt._watch((es, 3))  # the iteration count did not move: tell failed inside nevergrad
        opt._watch((object(), 2))  # another strategy than before: a restart
    text = caplog.text
    assert "swallowed an error of tell" in text and "restarted its evolution strategy" in text
