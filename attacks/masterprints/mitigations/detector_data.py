"""Mining many master images cheaply, to train and test the detector.

Each image targets its own random subset of a prompt pool (a per-image prompt mask), and the whole
batch is optimised at once with Adam, the way the paper mined its detector set (many short runs on
random subsets of class prompts).
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from workbench.runtime import Runtime

from ..objective import MultiPromptObjective, ObjectiveConfig
from ..optimizers.adam import Adam, AdamConfig
from ..scorers.base import Scorer
from ..spaces.base import SearchSpace


class DetectorSetConfig(BaseModel):
    """
    Attributes:
        images: master images to mine.
        prompts_per_image: size of each image's random prompt subset.
        steps: Adam steps (every image is stepped each time).
        lr: Adam's learning rate.
        batch: images optimised together.
    """

    model_config = ConfigDict(extra="forbid")

    images: int = Field(64, ge=2)
    prompts_per_image: int = Field(10, ge=1)
    steps: int = Field(60, ge=1)
    lr: float = Field(0.05, gt=0)
    batch: int = Field(32, ge=1)


def mine_master_set(
    scorer: Scorer,
    space: SearchSpace,
    prompt_pool: list[str],
    config: DetectorSetConfig,
    runtime: Runtime,
    key: str = "detector",
) -> torch.Tensor:
    """Mine ``config.images`` master images, each on its own random subset of ``prompt_pool``.

    Returns:
        `torch.Tensor` of shape `(images, 3, H, W)` in [0, 1].
    """
    if config.prompts_per_image > len(prompt_pool):
        raise ValueError(
            f"prompts_per_image {config.prompts_per_image} exceeds the pool of {len(prompt_pool)} prompts"
        )
    gen = runtime.generator("masterprints", "detector-set", key)
    out = []
    for start in range(0, config.images, config.batch):
        n = min(config.batch, config.images - start)
        mask = torch.zeros(n, len(prompt_pool), dtype=torch.bool)
        for i in range(n):
            mask[i, torch.randperm(len(prompt_pool), generator=gen)[: config.prompts_per_image]] = True
        objective = MultiPromptObjective(
            scorer, prompt_pool, ObjectiveConfig(aggregation="min"), prompt_mask=mask
        )
        opt = Adam(AdamConfig(population=n, lr=config.lr, key=f"{key}/{start}"), space, objective, runtime)
        for _ in range(config.steps):
            opt.step()
        with torch.no_grad():
            out.append(space.decode(opt.params.detach()).cpu())
    return torch.cat(out)
