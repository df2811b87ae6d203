"""Neighbour blending (``mode="blend"``, training-free): the top neighbour's subject is placed in the box
the prompt asks for, and its latents are held there, noised to the current timestep, for the first
``fraction`` of the denoising steps (blended latent diffusion, Avrahami et al. 2023); the generator draws
the rest of the scene around it from the prompt. Where a rare or unseen entity's name means nothing to
the generator, its retrieved picture is drawn instead.

Example:
    >>> import torch
    >>> canvas, mask = subject_canvas(torch.rand(3, 64, 64), (0.0, 0.0, 0.5, 0.5), (0.5, 0.5, 1.0, 1.0), 64, 64)
    >>> tuple(canvas.shape), int(mask.sum())
    ((3, 64, 64), 1024)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.utils.torch_utils import randn_tensor
from pydantic import BaseModel, ConfigDict, Field

from generators.retrieval.boxes import pixel_box
from toyworld.vocab import BACKGROUND
from workbench.latents import encode_images, refine_latents

__all__ = ["BlendConfig", "NeighbourBlend", "subject_canvas"]

Box = tuple[float, float, float, float]


class BlendConfig(BaseModel):
    """How a neighbour's subject is blended into the generation.

    Args:
        fraction: share of the denoising steps after which the subject's noised latents replace the
            generated ones inside its box; 1.0 also puts its clean latents there at the end.
        inversion_steps: Adam steps fitting the subject's latents through the VAE decoder (0: the encoder's
            latents; a VAE whose encoder is not the decoder's inverse, like the toy SD's, redraws small
            details otherwise).
        inversion_lr: their learning rate.
        background: the colour `(r, g, b)` in [0, 1] of the canvas outside the subject (default: the toy
            world's; only the box is blended, so it matters only through the VAE's receptive field at the
            box's edge).
    """

    model_config = ConfigDict(extra="forbid")

    fraction: float = Field(default=1.0, ge=0.0, le=1.0)
    inversion_steps: int = Field(default=50, ge=0)
    inversion_lr: float = Field(default=0.1, gt=0.0)
    background: tuple[float, float, float] = BACKGROUND


def subject_canvas(
    image: torch.Tensor,
    subject_box: Sequence[float] | None,
    target_box: Sequence[float] | None,
    height: int,
    width: int,
    background: Sequence[float] = BACKGROUND,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The neighbour's subject moved to ``target_box`` on a flat canvas.

    Args:
        image (`torch.Tensor` of shape `(3, H', W')`): the neighbour, in [0, 1].
        subject_box: where its subject is (normalised xyxy; ``None``: the whole image).
        target_box: where it goes (``None``: where it is).

    Returns:
        The canvas `(3, height, width)` in [0, 1] and the target box's mask `(height, width)` (bool).
    """
    for name, box in (("subject_box", subject_box), ("target_box", target_box)):
        if box is not None and not (0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1):
            raise ValueError(f"{name} {tuple(box)} is not a normalised xyxy box inside [0, 1]; fix the box")
    subject_box = tuple(subject_box) if subject_box is not None else (0.0, 0.0, 1.0, 1.0)
    target_box = tuple(target_box) if target_box is not None else subject_box
    _, h, w = image.shape
    sx0, sy0, sx1, sy1 = pixel_box(subject_box, h, w)
    tx0, ty0, tx1, ty1 = pixel_box(target_box, height, width)
    subject = image[:, sy0:sy1, sx0:sx1].float()[None]  # (1, 3, h_s, w_s)
    subject = F.interpolate(subject, size=(ty1 - ty0, tx1 - tx0), mode="bilinear", antialias=True)[0]
    canvas = torch.tensor(background, dtype=torch.float32)[:, None, None].repeat(1, height, width)
    canvas[:, ty0:ty1, tx0:tx1] = subject.clamp(0, 1)
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[ty0:ty1, tx0:tx1] = True
    return canvas, mask


@dataclass
class NeighbourBlend:
    """The subjects' latents `(B, 4, h, w)` and their boxes' masks `(B, 1, h, w)`, one per generated image,
    blended after each scheduler step (:meth:`after_step`)."""

    latents: torch.Tensor
    masks: torch.Tensor
    fraction: float
    generator: torch.Generator

    @classmethod
    def build(
        cls,
        pipe,
        images: Sequence[torch.Tensor],
        subject_boxes: Sequence[Box | None],
        target_boxes: Sequence[Box | None],
        height: int,
        width: int,
        config: BlendConfig,
        seed: int = 0,
    ) -> NeighbourBlend:
        """Canvases of each image's subject (one neighbour per generated image), encoded and fitted."""
        canvases, masks = zip(
            *(
                subject_canvas(im, sb, tb, height, width, config.background)
                for im, sb, tb in zip(images, subject_boxes, target_boxes)
            )
        )
        canvas = torch.stack(canvases)  # (B, 3, H, W)
        z = encode_images(pipe, canvas)  # (B, 4, h, w)
        z = refine_latents(pipe, z, canvas, config.inversion_steps, config.inversion_lr)
        h, w = z.shape[-2:]
        # a latent pixel is blended when most of it lies in the box
        small = F.interpolate(torch.stack(masks)[:, None].float(), size=(h, w), mode="area") > 0.5
        return cls(z, small.to(z.device), config.fraction, torch.Generator().manual_seed(int(seed)))

    def after_step(self, scheduler, latents: torch.Tensor, i: int, timesteps: torch.Tensor) -> torch.Tensor:
        """The latents after step ``i`` (now at ``timesteps[i + 1]``) with the subjects blended in."""
        n = len(timesteps)
        if i + 1 < n and i + 1 < self.fraction * n:
            noise = randn_tensor(self.latents.shape, generator=self.generator, dtype=self.latents.dtype)
            noised = scheduler.add_noise(
                self.latents, noise.to(self.latents.device), timesteps[i + 1].reshape(1)
            )
            return torch.where(self.masks, noised.to(latents.dtype), latents)
        if i + 1 == n and self.fraction >= 1.0:
            return torch.where(self.masks, self.latents.to(latents.dtype), latents)
        return latents
