"""``retrieval_reference``: training-free reference attention: the neighbours' keys and values join the UNet's
self-attention.

The neighbours' images, noised to the current timestep, run through the UNet first (the *record* pass caches
the selected self-attention layers' keys / values); then each generated image's queries attend to its own
keys / values and to those of its own prompt's neighbours (the reference-attention processors of
:mod:`workbench.attention`, installed for the call only). A neighbour with a subject box in its metadata is
attended inside that box only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from diffusers.utils.torch_utils import randn_tensor

from generators.retrieval.boxes import pixel_box
from workbench.attention import ReferenceAttentionState, reference_processors, resolve_layers
from workbench.generation import register_generator

from .base import RetrievalGenerator
from .mode import RetrievalMode

__all__ = ["ReferenceMode", "RetrievalReference", "boxes_to_masks"]


def boxes_to_masks(
    boxes: Sequence[tuple[float, float, float, float]], height: int, width: int
) -> torch.Tensor:
    """Boolean masks `(R, height, width)` of normalised xyxy boxes (at least one pixel each)."""
    masks = torch.zeros(len(boxes), height, width, dtype=torch.bool)
    for r, box in enumerate(boxes):
        c0, r0, c1, r1 = pixel_box(box, height, width)
        masks[r, r0:r1, c0:c1] = True
    return masks


class ReferenceMode(RetrievalMode):
    """Reference attention over the neighbours (options: ``layers``, ``reference_weight``, ``use_boxes``,
    ``reference_seed``)."""

    name = "reference"

    def prepare(self, height: int, width: int, latents: torch.Tensor, dtype: torch.dtype) -> None:
        """The attention state, the references' latents `(R, 4, h, w)` and their prompt embeddings per record
        branch (``cond``: their captions, ``retrieval_only``: the empty prompt); the processors."""
        pipe, neighbours, o = self.pipe, self.neighbours, self.options
        device = pipe._execution_device
        images = torch.cat(
            [
                F.interpolate(n.images.float(), size=(height, width), mode="bilinear", antialias=True)
                for n in neighbours
            ]
        ).clamp(0, 1)  # (R, 3, H, W)
        owner = torch.cat(
            [torch.full((len(n),), p) for p, n in enumerate(neighbours)]
        )  # (R,) prompt of each reference
        rows = (
            torch.arange(len(neighbours) * self.rows_per_prompt) // self.rows_per_prompt
        )  # (B,) prompt of each image row
        allowed = rows[:, None] == owner[None, :]  # (B, R)
        boxes = [b for n in neighbours for b in (n.boxes or [None] * len(n))]
        masks = (
            boxes_to_masks(boxes, height, width).to(device)
            if o.use_boxes and all(b is not None for b in boxes)
            else None
        )
        self.state = ReferenceAttentionState(
            num_references=images.shape[0],
            reference_hw=tuple(latents.shape[-2:]),
            masks=masks,
            mask_weights=float(o.reference_weight),
            plain_weight={"uncond": 1.0, "text_only": 1.0},
            allowed=allowed.to(device),
        )
        self.ref_latents = pipe.encode_references(images).to(dtype)  # (R, 4, h, w)
        texts = [t for n in neighbours for t in n.texts]
        cond, uncond = pipe.encode_prompt(texts, device, 1, True, [""] * len(texts))
        self.ref_states = {"cond": cond, "retrieval_only": uncond}
        self._processors = reference_processors(pipe.unet, resolve_layers(pipe.unet, o.layers), self.state)
        self.ref_generator = torch.Generator(device="cpu").manual_seed(int(o.reference_seed))

    def processors(self) -> dict:
        return self._processors

    def before_unet(
        self, t: torch.Tensor, branches: tuple[str, ...], timestep_cond: torch.Tensor | None
    ) -> None:
        """Record: the neighbours noised to ``t``; keys / values cached once per branch that uses them."""
        pipe, ref_latents = self.pipe, self.ref_latents
        record = tuple(b for b in branches if self.state.needs_references(b))
        noise = randn_tensor(
            ref_latents.shape,
            generator=self.ref_generator,
            device=pipe._execution_device,
            dtype=ref_latents.dtype,
        )
        ref_t = pipe.scheduler.add_noise(ref_latents, noise, t.reshape(1))  # (R, 4, h, w)
        ref_input = torch.cat([ref_t] * len(record))
        if hasattr(pipe.scheduler, "scale_model_input"):
            ref_input = pipe.scheduler.scale_model_input(ref_input, t)
        ref_cond = None if timestep_cond is None else timestep_cond[:1].expand(ref_input.shape[0], -1)
        with self.state.recording(record):
            pipe.unet(
                ref_input, t, encoder_hidden_states=torch.cat([self.ref_states[b] for b in record]),
                timestep_cond=ref_cond, return_dict=False,
            )  # fmt: skip

    def attending(self, branches: tuple[str, ...]) -> contextlib.AbstractContextManager:
        return self.state.attending(branches)

    def after_unet(self) -> None:
        self.state.cache.clear()


@register_generator("retrieval_reference")
class RetrievalReference(RetrievalGenerator):
    """Training-free reference attention: the neighbours' keys and values join the UNet's self-attention."""

    mode = "reference"
