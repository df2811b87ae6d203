"""What a retrieval mode is: the hooks it adds to :class:`RetrievalAugmentedPipeline`'s shared denoising loop,
and the registry the pipeline's ``mode=`` argument names.

The pipeline owns everything the modes share (prompts, neighbours, guidance branches, latents, the loop,
decoding); a mode owns how the neighbours enter it, in one file next to its registered generator:

- ``reference`` (:mod:`.reference`): reference attention: a record pass over the noised neighbours before
  each UNet call, processors installed for the loop;
- ``conditioned`` (:mod:`.conditioned`): the trained conditioner's tokens appended to every branch's
  encoder states;
- ``blend`` (:mod:`.blend`): the top neighbour's subject held in its box after each scheduler step.

A mode is built once per call with the pipeline, each prompt's neighbours (``None``: retrieval off, the
baseline of a pipeline with a conditioner) and the rows (images) per prompt; the pipeline calls its hooks
in this order: :meth:`~RetrievalMode.encoder_states` (step 3), :meth:`~RetrievalMode.prepare` (step 7),
then per step :meth:`~RetrievalMode.before_unet`, :meth:`~RetrievalMode.attending` around the UNet call,
:meth:`~RetrievalMode.after_unet` and :meth:`~RetrievalMode.after_step`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from workbench.registry import Registry

if TYPE_CHECKING:
    import torch

    from generators.retrieval.retriever import RetrievedNeighbours

__all__ = ["RETRIEVAL_MODES", "ModeOptions", "RetrievalMode"]

RETRIEVAL_MODES: Registry[type[RetrievalMode]] = Registry("retrieval mode")
for _mode in ("reference", "conditioned", "blend"):
    RETRIEVAL_MODES.add_lazy(_mode, f"generators.retrieval.methods.{_mode}:{_mode.capitalize()}Mode")


@dataclass(frozen=True)
class ModeOptions:
    """The per-call settings of the modes (the pipeline's arguments of the same names, where their defaults
    live); each mode reads its own."""

    layers: str | Sequence[str]
    reference_weight: float
    use_boxes: bool
    target_boxes: Sequence[tuple[float, float, float, float] | None] | None
    blend: Any
    reference_seed: int


class RetrievalMode:
    """How one call conditions on the neighbours (subclasses override the hooks they need).

    Args:
        pipe: the :class:`~generators.retrieval.pipeline_retrieval.RetrievalAugmentedPipeline`.
        neighbours: one :class:`RetrievedNeighbours` per prompt, or ``None`` (retrieval off).
        rows_per_prompt: images per prompt (``num_images_per_prompt``).
        options: the call's :class:`ModeOptions`.
    """

    name: ClassVar[str] = ""

    def __init__(
        self,
        pipe: Any,
        neighbours: Sequence[RetrievedNeighbours] | None,
        rows_per_prompt: int,
        options: ModeOptions,
    ) -> None:
        self.pipe = pipe
        self.neighbours = None if neighbours is None else list(neighbours)
        self.rows_per_prompt = rows_per_prompt
        self.options = options

    @classmethod
    def check(cls, pipe: Any) -> None:
        """Refuse a pipeline the mode cannot run on (before any work), with a one-line reason."""

    def encoder_states(self, states: dict[str, torch.Tensor], rows: int) -> dict[str, torch.Tensor]:
        """Each guidance branch's encoder states `(B, 77, C)`, possibly extended `(B, 77 + T, C)`."""
        return states

    def prepare(self, height: int, width: int, latents: torch.Tensor, dtype: torch.dtype) -> None:
        """Set up before the loop, once the initial latents `(B, 4, h, w)` are drawn."""

    def processors(self) -> dict[str, Any]:
        """Attention processors installed for the loop only (``{}``: none)."""
        return {}

    def before_unet(
        self, t: torch.Tensor, branches: tuple[str, ...], timestep_cond: torch.Tensor | None
    ) -> None:
        """Run before the step's UNet call on the ``branches`` it predicts."""

    def attending(self, branches: tuple[str, ...]) -> contextlib.AbstractContextManager:
        """A context around the step's UNet call."""
        return contextlib.nullcontext()

    def after_unet(self) -> None:
        """Run after the step's UNet call."""

    def after_step(self, latents: torch.Tensor, i: int, timesteps: torch.Tensor) -> torch.Tensor:
        """The latents `(B, 4, h, w)` after the scheduler step ``i`` (returned unchanged by default)."""
        return latents
