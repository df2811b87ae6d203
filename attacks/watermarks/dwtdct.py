"""invisible-watermark's DWT-DCT watermark (Stable Diffusion's default; fragile under JPEG with
chroma subsampling and on some images)."""

from __future__ import annotations

from attacks.watermarks.invisible import InvisibleWatermark
from attacks.watermarks.registry import WATERMARKS


@WATERMARKS.register("dwtDct")
class DwtDct(InvisibleWatermark):
    """Bits in the DCT of 4x4 blocks of the Haar-DWT approximation band of the U channel.

    Example:
        >>> import torch
        >>> wm = DwtDct(seed=1)
        >>> images = torch.rand(1, 3, 256, 256)
        >>> wm.embed(images).shape
        torch.Size([1, 3, 256, 256])
    """

    name = "dwtDct"
    method = "dwtDct"
