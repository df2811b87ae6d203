"""CLIP's image preprocessing (resize, centre crop, normalise) as a differentiable torch module."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: The normalisation of OpenAI CLIP (``CLIPImageProcessor`` defaults).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
#: SigLIP's normalisation (``SiglipImageProcessor`` defaults).
SIGLIP_MEAN = (0.5, 0.5, 0.5)
SIGLIP_STD = (0.5, 0.5, 0.5)


class ClipPreprocess(nn.Module):
    """Resize the shortest side to ``image_size``, centre-crop a square, normalise.

    The same steps as ``CLIPImageProcessor`` (bicubic resize of the shortest side, centre crop,
    mean/std normalisation), but on float tensors and differentiable, so gradients reach the
    pixels (or the latent) being optimised.

    Args:
        image_size: the side of the square the vision tower expects (224 for ViT-B/32).
        mean: per-channel mean, in [0, 1] units.
        std: per-channel standard deviation, in [0, 1] units.
        crop: resize the shortest side then centre-crop (CLIP); ``False`` resizes to a square
            directly (SigLIP).
        interpolation: ``"bicubic"`` (CLIP) or ``"bilinear"``.
    """

    def __init__(
        self,
        image_size: int,
        mean: Sequence[float] = CLIP_MEAN,
        std: Sequence[float] = CLIP_STD,
        crop: bool = True,
        interpolation: str = "bicubic",
    ) -> None:
        super().__init__()
        if image_size < 8:
            raise ValueError(f"image_size must be at least 8, got {image_size}")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need 3 channels and std > 0, got mean={mean}, std={std}")
        self.image_size = int(image_size)
        self.crop = crop
        self.interpolation = interpolation
        self.register_buffer(
            "mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """
        Args:
            images (`torch.Tensor` of shape `(batch, 3, height, width)`): pixels in [0, 1].

        Returns:
            `torch.Tensor` of shape `(batch, 3, image_size, image_size)`: normalised pixel values.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W) in [0, 1], got {tuple(images.shape)}")
        s = self.image_size
        h, w = images.shape[-2:]
        if (h, w) != (s, s):
            if self.crop:
                scale = s / min(h, w)
                size = (
                    max(s, int(h * scale)),
                    max(s, int(w * scale)),
                )  # as the processor: int(), not round()
            else:
                size = (s, s)
            antialias = min(h, w) > s  # antialias only when shrinking, like PIL's resampling
            images = F.interpolate(
                images, size=size, mode=self.interpolation, align_corners=False, antialias=antialias
            )
            if self.crop:
                top, left = (size[0] - s) // 2, (size[1] - s) // 2
                images = images[:, :, top : top + s, left : left + s]  # (B, 3, s, s)
            images = images.clamp(0, 1)  # bicubic overshoots; the processor works on clipped uint8
        mean = self.mean.to(device=images.device, dtype=images.dtype)
        std = self.std.to(device=images.device, dtype=images.dtype)
        return (images - mean) / std

    @classmethod
    def from_image_processor(cls, processor, default_size: int) -> ClipPreprocess:
        """Read size, crop, mean and std from a transformers image processor (``CLIPImageProcessor``,
        ``SiglipImageProcessor``); ``default_size`` is used when it names no size."""
        crop = bool(getattr(processor, "do_center_crop", False))
        size = getattr(processor, "crop_size", None) if crop else getattr(processor, "size", None)
        if isinstance(size, dict):
            size = size.get("height") or size.get("shortest_edge")
        elif size is not None and not isinstance(size, int):
            size = getattr(size, "height", None) or getattr(size, "shortest_edge", None)
        mean = getattr(processor, "image_mean", None) or CLIP_MEAN
        std = getattr(processor, "image_std", None) or CLIP_STD
        resample = getattr(processor, "resample", None)
        interpolation = "bilinear" if resample is not None and int(resample) == 2 else "bicubic"
        return cls(int(size or default_size), mean=mean, std=std, crop=crop, interpolation=interpolation)
