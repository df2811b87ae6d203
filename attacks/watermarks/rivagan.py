"""invisible-watermark's RivaGAN watermark: a learnt encoder/decoder (ONNX, shipped with the package)."""

from __future__ import annotations

from pydantic import field_validator

from attacks.watermarks.invisible import InvisibleWatermark, InvisibleWatermarkConfig
from attacks.watermarks.registry import WATERMARKS


class RivaGanConfig(InvisibleWatermarkConfig):
    """Args:
    num_bits: must be 32 (the released RivaGAN models carry 32 bits).
    """

    @field_validator("num_bits")
    @classmethod
    def _thirty_two(cls, value: int) -> int:
        if value != 32:
            raise ValueError(f"rivaGan carries exactly 32 bits, got num_bits={value}")
        return value


@WATERMARKS.register("rivaGan")
class RivaGan(InvisibleWatermark):
    """RivaGAN (Zhang et al. 2019) through imwatermark's ONNX models (onnxruntime, CPU or GPU)."""

    name = "rivaGan"
    method = "rivaGan"
    config_class = RivaGanConfig

    def _load(self) -> None:
        from imwatermark import WatermarkEncoder

        WatermarkEncoder.loadModel()  # loads the ONNX sessions once per process
