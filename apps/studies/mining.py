"""Mining master images for the studies: the pixel recipe that works on the toy CLIP (Adam on pixel
logits, soft-minimum over the prompts; ``docs/masterprints.md``), ``count`` images side by side, with a
snapshot of every image at each budget along the way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from pydantic import Field

from attacks.masterprints.objective import MultiPromptObjective, ObjectiveConfig
from attacks.masterprints.optimizers.adam import Adam, AdamConfig
from attacks.masterprints.scorers.base import Scorer
from attacks.masterprints.spaces.base import build_space
from workbench.config import ConfigSection
from workbench.runtime import Runtime

__all__ = ["MiningSection", "mine_snapshots"]


class MiningSection(ConfigSection):
    """How the master images are mined (white-box, raw pixels).

    Args:
        budgets: Adam steps at which every image is kept (each step scores each image once); 0 is the
            starting noise, the control that was never optimised.
        image_size: the master images' side (``None``: the CLIP's input size).
        lr: Adam's learning rate on the pixel logits.
        aggregation: ``softmin`` (the recipe that works on the toy CLIP), ``min`` (the paper) or ``mean``.
        temperature: the soft minimum's temperature (cosine units).
    """

    budgets: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: [0, 100, 300, 600], min_length=1
    )
    image_size: int | None = Field(64, ge=16)
    lr: float = Field(0.05, gt=0)
    aggregation: str = Field("softmin", pattern="^(softmin|min|mean)$")
    temperature: float = Field(0.02, gt=0)


def mine_snapshots(
    scorer: Scorer,
    prompts: Sequence[str],
    count: int,
    section: MiningSection,
    runtime: Runtime,
    key: str,
) -> dict[int, torch.Tensor]:
    """Mine ``count`` master images on ``prompts`` at once; keep them at each budget.

    Args:
        scorer: the CLIP under attack (white-box).
        prompts: the target prompts.
        count: images mined side by side (Adam's population; each has its own starting noise).
        section: budgets and optimiser settings.
        runtime: device and seeds (the starting noise is drawn from ``key``).
        key: the optimiser's key (one per seed).

    Returns:
        ``{budget: (count, 3, S, S)}`` images in [0, 1] on the CPU.
    """
    if count < 1:
        raise ValueError(f"mine at least one master image, got count={count}")
    budgets = sorted(set(section.budgets))
    if not budgets or budgets[0] < 0:
        raise ValueError(f"mining.budgets must be non-negative step counts, got {section.budgets}")
    size = section.image_size or scorer.image_size
    space = build_space({"name": "pixels", "squash": "sigmoid"}, image_size=size, device=runtime.device)
    objective = MultiPromptObjective(
        scorer,
        list(prompts),
        ObjectiveConfig(aggregation=section.aggregation, temperature=section.temperature),
    )
    opt = Adam(AdamConfig(population=count, lr=section.lr, key=key), space, objective, runtime)
    out: dict[int, torch.Tensor] = {}
    step = 0
    for budget in budgets:
        while step < budget:
            opt.step()
            step += 1
        with torch.no_grad():
            out[budget] = space.decode(opt.params.detach()).float().cpu()  # (count, 3, S, S)
    return out
