"""``retrieval_blend``: the top neighbour's subject blended into the box the prompt names (blended latent
diffusion).

Each image's top neighbour is placed in its target box, encoded and fitted, and its latents are held there
for the first steps (:mod:`generators.retrieval.blend`).
"""

from __future__ import annotations

import torch

from generators.retrieval.blend import BlendConfig, NeighbourBlend
from workbench.generation import register_generator

from .base import RetrievalGenerator
from .mode import RetrievalMode

__all__ = ["BlendMode", "RetrievalBlend"]


class BlendMode(RetrievalMode):
    """The top neighbour's subject in its target box (options: ``target_boxes``, ``blend``,
    ``reference_seed``)."""

    name = "blend"

    def prepare(self, height: int, width: int, latents: torch.Tensor, dtype: torch.dtype) -> None:
        """The :class:`NeighbourBlend` of each image row: its prompt's top neighbour in its target box."""
        neighbours, o = self.neighbours, self.options
        config = o.blend if isinstance(o.blend, BlendConfig) else BlendConfig(**(o.blend or {}))
        target_boxes = [None] * len(neighbours) if o.target_boxes is None else o.target_boxes
        if len(target_boxes) != len(neighbours):
            raise ValueError(
                f"got {len(target_boxes)} target boxes for {len(neighbours)} prompts; give one per prompt"
            )
        if any(len(n) == 0 for n in neighbours):
            raise ValueError("mode='blend' needs at least one neighbour per prompt")
        rows = [p for p in range(len(neighbours)) for _ in range(self.rows_per_prompt)]
        self.blender = NeighbourBlend.build(
            self.pipe,
            [neighbours[p].images[0] for p in rows],
            [neighbours[p].boxes[0] if neighbours[p].boxes else None for p in rows],
            [target_boxes[p] for p in rows],
            height,
            width,
            config,
            o.reference_seed,
        )

    def after_step(self, latents: torch.Tensor, i: int, timesteps: torch.Tensor) -> torch.Tensor:
        return self.blender.after_step(self.pipe.scheduler, latents, i, timesteps)


@register_generator("retrieval_blend")
class RetrievalBlend(RetrievalGenerator):
    """The top neighbour's subject blended into the box the prompt names (blended latent diffusion)."""

    mode = "blend"
    requires = ("neighbours", "target_boxes")
