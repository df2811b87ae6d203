"""Post-hoc watermarks of the ``invisible-watermark`` package (``imwatermark``), as used by Stable
Diffusion's reference scripts: DWT-DCT, DWT-DCT-SVD and the RivaGAN encoder/decoder (ONNX)."""

from __future__ import annotations

import logging
import math
from typing import ClassVar, Literal

import numpy as np
import torch

from attacks.image.ops import from_uint8_hwc, resize, to_uint8_hwc
from attacks.watermarks.base import Watermark, WatermarkConfig

logger = logging.getLogger(__name__)

# imwatermark refuses images with fewer pixels than this.
MIN_PIXELS = 256 * 256


class InvisibleWatermarkConfig(WatermarkConfig):
    """Args:
    num_bits: payload length (rivaGan supports 32 only).
    small_images: what to do with images of fewer than 256 x 256 pixels, which imwatermark
        cannot process: ``"error"`` (a clear error), or ``"resize"``: upscale (bicubic, aspect kept)
        to the smallest size with at least 256 x 256 pixels, embed there and resize the result back;
        decoding upscales the same way. The resize round trip weakens the watermark.
    """

    num_bits: int = 32
    small_images: Literal["error", "resize"] = "error"


class InvisibleWatermark(Watermark):
    """Base of the three ``imwatermark`` methods; ``method`` is imwatermark's method name."""

    method: ClassVar[str] = ""
    config_class = InvisibleWatermarkConfig
    _model_loaded: ClassVar[bool] = False

    @property
    def num_bits(self) -> int:
        return self.config.num_bits

    def _work_size(self, h: int, w: int) -> tuple[int, int]:
        if h * w >= MIN_PIXELS:
            return h, w
        if self.config.small_images == "error":
            raise ValueError(
                f"{self.name} needs images of at least 256 x 256 pixels (invisible-watermark's limit), got {h} x {w}; "
                "resize them first or set small_images='resize' (upscale, embed, downscale: a weaker watermark)"
            )
        scale = math.sqrt(MIN_PIXELS / (h * w))
        return math.ceil(h * scale), math.ceil(w * scale)

    def _bgr(self, image: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(to_uint8_hwc(image)[:, :, ::-1])  # (H, W, 3) uint8 BGR

    def _load(self) -> None:
        pass

    def _embed(self, images: torch.Tensor, payload: torch.Tensor) -> torch.Tensor:
        from imwatermark import WatermarkEncoder

        self._load()
        h, w = images.shape[-2:]
        size = self._work_size(h, w)
        out = []
        for image, bits in zip(resize(images.float(), size), payload):
            encoder = WatermarkEncoder()
            encoder.set_watermark("bits", [int(b) for b in bits.tolist()])
            marked = encoder.encode(self._bgr(image), self.method)  # (H, W, 3) uint8 BGR
            out.append(from_uint8_hwc(marked[:, :, ::-1]))
        return resize(torch.stack(out).to(images.device), (h, w))

    def _decode(self, images: torch.Tensor) -> torch.Tensor:
        from imwatermark import WatermarkDecoder

        self._load()
        size = self._work_size(*images.shape[-2:])
        decoder = WatermarkDecoder("bits", self.num_bits)
        bits = [
            np.asarray(decoder.decode(self._bgr(image), self.method), dtype=np.float32)
            for image in resize(images.float(), size)
        ]
        return torch.from_numpy(np.stack(bits))  # (B, L)
