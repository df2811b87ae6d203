"""The GLIGEN training recipe's defaults, in one place: :class:`~generators.layout.train_gligen.GligenTrainer`
takes them as its defaults and ``workbench layout train-gligen --help`` quotes them (no torch import)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RECIPE", "GligenRecipe"]


@dataclass(frozen=True)
class GligenRecipe:
    """Defaults of the ``position-free-captions`` recipe (see :class:`GligenTrainer` for each field)."""

    batch_size: int = 32
    lr: float = 3e-4
    gate_lr: float = 3e-3
    position_free: float = 0.7
    class_words: float = 0.2
    uncond_prob: float = 0.1
    grounding_drop: float = 0.1
    snr_gamma: float = 5.0
    min_timestep: int = 400
    eval_images: int = 16
    eval_beta: float = 0.5  # the paper's fusers; box-masked ones evaluate at every step (train_gligen)
    eval_steps: int = 20
    no_words: float = 0.0
    class_phrases: bool = False


RECIPE = GligenRecipe()
