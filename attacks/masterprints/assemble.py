"""Assembling a mining run from its config: prompts, scorer, objective, space and optimiser."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from workbench.runtime import Runtime

from .config import AttackConfig, ModelsConfig
from .models import load_scorer, load_vae
from .objective import MultiPromptObjective
from .optimizers.base import MasterPrintOptimizer, build_optimizer
from .prompts import load_prompts
from .scorers.base import Scorer
from .scorers.blackbox import BlackBoxScorer
from .spaces.base import SearchSpace, build_space
from .toy_images import ToyWorldImages

logger = logging.getLogger(__name__)


@dataclass
class MiningSetup:
    """Everything a mining run needs, built and validated.

    Attributes:
        prompts: the validated target prompts.
        scorer: the white-box model (evaluation always uses it).
        objective: the objective the optimiser sees (black-box when the config says so).
        space: the search space.
        optimizer: the optimiser, fresh.
        image_size: the master image's side.
    """

    prompts: list[str]
    scorer: Scorer
    objective: MultiPromptObjective
    space: SearchSpace
    optimizer: MasterPrintOptimizer
    image_size: int


def toy_start_image(caption: str, image_size: int, seed: int) -> torch.Tensor:
    """`(3, S, S)` a toy-world scene of ``caption`` (the default start image of ``linf_ball``)."""
    return ToyWorldImages(size=image_size, per_prompt=1, seed=seed, split="val")(caption)[0]


def build_setup(
    attack: AttackConfig, models: ModelsConfig, runtime: Runtime, scorer: Scorer | None = None, vae=None
) -> MiningSetup:
    """Build a :class:`MiningSetup`; bad prompts, images or settings fail here, before mining.

    Args:
        attack: the attack section.
        models: the models section (ignored for what is passed in directly).
        runtime: device, dtype and seeds.
        scorer: an already loaded scorer (the demo keeps one); loaded from ``models`` when ``None``.
        vae: an already loaded VAE for ``vae_latent``.
    """
    prompts = load_prompts(attack.prompts, max_prompts=attack.max_prompts)
    if scorer is None:
        scorer = load_scorer(models.clip, runtime, kind=models.scorer)
    image_size = attack.image_size or scorer.image_size
    resources: dict = {}
    if attack.space.name == "vae_latent":
        resources["vae"] = vae if vae is not None else load_vae(models.vae, runtime, image_size=image_size)
    if attack.space.name == "linf_ball" and getattr(attack.space, "start_image", None) is None:
        resources["start_image"] = toy_start_image(attack.start_caption, image_size, seed=runtime.seed)
    space = build_space(attack.space, image_size=image_size, device=runtime.device, **resources)
    if attack.is_black_box:
        view: Scorer | BlackBoxScorer = BlackBoxScorer.from_scorer(scorer, prompts)
    else:
        view = scorer
    objective = MultiPromptObjective(view, prompts, attack.objective)
    optimizer = build_optimizer(attack.optimizer, space, objective, runtime)
    logger.info(
        "mining %d prompts with %s in %s (%d dims, %s)",
        len(prompts),
        attack.optimizer.name,
        space.name,
        space.dim,
        "black-box" if attack.is_black_box else "white-box",
    )
    return MiningSetup(prompts, scorer, objective, space, optimizer, image_size)
