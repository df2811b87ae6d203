"""JPEG compression (Pillow's libjpeg)."""

from __future__ import annotations

import io
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from attacks.image.base import AttackConfig, GeneratorArg, ImageAttack
from attacks.image.ops import from_uint8_hwc, to_uint8_hwc
from attacks.image.registry import IMAGE_ATTACKS

# Pillow's ``subsampling`` codes.
_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


class JpegConfig(AttackConfig):
    """Args:
    strength: mapped to JPEG quality ``round(100 - 90 * strength)`` (0 -> 100, 1 -> 10).
    subsampling: chroma subsampling; Pillow's and most encoders' default is 4:2:0, which alone
        breaks dwtDct decoding, so it is recorded with every result.
    """

    subsampling: Literal["4:4:4", "4:2:2", "4:2:0"] = "4:2:0"


@IMAGE_ATTACKS.register("jpeg")
class Jpeg(ImageAttack):
    """Encode each image as a JPEG in memory and decode it again (quality from ``strength``)."""

    name = "jpeg"
    config_class = JpegConfig

    @property
    def quality(self) -> int:
        return int(round(100 - 90 * self.config.strength))

    def parameters(self) -> dict[str, Any]:
        return {"quality": self.quality, "subsampling": self.config.subsampling, "codec": "pillow-libjpeg"}

    def apply(self, images: torch.Tensor, generator: GeneratorArg) -> torch.Tensor:
        out = []
        for image in images:  # (3, H, W)
            buffer = io.BytesIO()
            Image.fromarray(to_uint8_hwc(image)).save(
                buffer, format="JPEG", quality=self.quality, subsampling=_SUBSAMPLING[self.config.subsampling]
            )
            buffer.seek(0)
            decoded = np.asarray(Image.open(buffer).convert("RGB"))  # (H, W, 3) uint8
            out.append(from_uint8_hwc(decoded))
        return torch.stack(out).to(images.device)
