"""A differentiable stand-in for a Hugging Face image processor: resize, centre crop, normalise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_PIL_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


class ImagePreprocess(nn.Module):
    """[0, 1] pixels -> a vision model's normalised input, in torch (gradients flow through).

    Follows the CLIP / DINOv2 image processors: resize so the shorter side is ``shortest_edge``
    (or to exactly ``size=(h, w)``), centre crop to ``crop_size``, subtract ``mean``, divide by ``std``.
    Resizing is antialiased ``bicubic`` (the processors' PIL bicubic) and clamped to [0, 1] as PIL's
    8-bit output is.

    Args:
        shortest_edge: target shorter side, or ``None`` when ``size`` is given.
        size: exact ``(height, width)`` resize instead of ``shortest_edge``.
        crop_size: ``(height, width)`` of the centre crop, or ``None`` for no crop.
        mean, std: per-channel normalisation.
        mode: interpolation mode of ``torch.nn.functional.interpolate``.

    Forward:
        images (`torch.Tensor` of shape `(B, 3, H, W)`) in [0, 1] -> `(B, 3, crop_h, crop_w)`.
    """

    def __init__(
        self,
        shortest_edge: int | None = 224,
        size: tuple[int, int] | None = None,
        crop_size: tuple[int, int] | None = (224, 224),
        mean: Sequence[float] = OPENAI_CLIP_MEAN,
        std: Sequence[float] = OPENAI_CLIP_STD,
        mode: str = "bicubic",
    ) -> None:
        super().__init__()
        if shortest_edge is None and size is None:
            raise ValueError("ImagePreprocess needs shortest_edge or size")
        self.shortest_edge = shortest_edge
        self.size = tuple(size) if size is not None else None
        self.crop_size = tuple(crop_size) if crop_size is not None else None
        self.mode = mode
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, 3, 1, 1))

    @classmethod
    def from_processor(cls, processor: Any) -> ImagePreprocess:
        """Read the settings of a transformers image processor (or a processor holding one)."""
        ip = getattr(processor, "image_processor", processor)
        size = _get(ip, "size")
        shortest, exact = _get(size, "shortest_edge"), None
        if shortest is None and _get(size, "height") is not None:
            exact = (int(_get(size, "height")), int(_get(size, "width")))
        if _get(ip, "do_resize") is False:
            raise ValueError(
                "image processors with do_resize=False are not supported; resize the images yourself"
            )
        crop = _get(ip, "crop_size")
        crop_size = None
        if _get(ip, "do_center_crop") and crop is not None:
            crop_size = (int(_get(crop, "height")), int(_get(crop, "width")))
        mode = _PIL_RESAMPLE.get(int(_get(ip, "resample") or 3), "bicubic")
        mean = _get(ip, "image_mean") if _get(ip, "do_normalize") is not False else (0.0, 0.0, 0.0)
        std = _get(ip, "image_std") if _get(ip, "do_normalize") is not False else (1.0, 1.0, 1.0)
        return cls(
            shortest_edge=int(shortest) if shortest is not None else None,
            size=exact,
            crop_size=crop_size,
            mean=mean,
            std=std,
            mode=mode,
        )

    def describe(self) -> str:
        """The resize / crop / normalisation settings in one line (for reports)."""
        resize = (
            f"shorter side {self.shortest_edge}" if self.size is None else f"{self.size[0]}x{self.size[1]}"
        )
        crop = f", centre crop {self.crop_size[0]}x{self.crop_size[1]}" if self.crop_size else ""
        return f"{self.mode} resize to {resize} (antialiased){crop}, mean/std normalised"

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The resized ``(height, width)`` before cropping (the processors' rounding)."""
        if self.size is not None:
            return self.size  # type: ignore[return-value]
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.shortest_edge, int(self.shortest_edge * long / short)
        return (new_long, new_short) if width <= height else (new_short, new_long)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h, w = images.shape[-2:]
        oh, ow = self.output_size(h, w)
        x = images
        if (oh, ow) != (h, w):
            antialias = self.mode in ("bilinear", "bicubic")
            x = F.interpolate(
                x,
                size=(oh, ow),
                mode=self.mode,
                align_corners=False if antialias else None,
                antialias=antialias,
            )
            x = x.clamp(0.0, 1.0)  # (B, 3, oh, ow)
        if self.crop_size is not None:
            ch, cw = self.crop_size
            if ch > oh or cw > ow:
                x = F.pad(
                    x,
                    (
                        (max(cw - ow, 0) + 1) // 2,
                        max(cw - ow, 0) // 2,
                        (max(ch - oh, 0) + 1) // 2,
                        max(ch - oh, 0) // 2,
                    ),
                )
                oh, ow = x.shape[-2:]
            top, left = (oh - ch) // 2, (ow - cw) // 2
            x = x[..., top : top + ch, left : left + cw]  # (B, 3, ch, cw)
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
