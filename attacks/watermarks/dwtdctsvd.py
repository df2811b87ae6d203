"""invisible-watermark's DWT-DCT-SVD watermark."""

from __future__ import annotations

from attacks.watermarks.invisible import InvisibleWatermark
from attacks.watermarks.registry import WATERMARKS


@WATERMARKS.register("dwtDctSvd")
class DwtDctSvd(InvisibleWatermark):
    """Bits in the largest singular value of the DCT of DWT blocks (sturdier than dwtDct)."""

    name = "dwtDctSvd"
    method = "dwtDctSvd"
