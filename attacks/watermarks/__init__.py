"""Watermarks: a registry of post-hoc (invisible-watermark's dwtDct, dwtDctSvd, rivaGan) and
generation-time (Tree-Ring, Gaussian Shading) watermarks with a common interface
(:class:`~attacks.watermarks.base.Watermark`).

Example:
    >>> from attacks.watermarks import WATERMARKS, build_watermark
    >>> WATERMARKS.names()
    ['dwtDct', 'dwtDctSvd', 'gaussian_shading', 'rivaGan', 'treering']
    >>> build_watermark("dwtDct", payload="01" * 16).num_bits
    32
"""

from __future__ import annotations

from typing import Any

from attacks.watermarks import dwtdct, dwtdctsvd, gaussian_shading, rivagan, treering  # noqa: F401
from attacks.watermarks.base import Watermark, WatermarkConfig
from attacks.watermarks.payload import bit_agreement, bits_to_string, parse_payload
from attacks.watermarks.registry import WATERMARKS


def build_watermark(name: str, pipe: Any = None, runtime: Any = None, **config: Any) -> Watermark:
    """The registered watermark ``name`` with config fields as keywords; ``pipe`` (or the model loaded
    onto ``runtime`` from ``config["model"]``) serves a generation-time watermark; post-hoc ones
    ignore both.

    Raises:
        KeyError: unknown name (the message lists the known ones).
        pydantic.ValidationError: a bad config value.
    """
    cls = WATERMARKS.get(name)
    if cls.kind == "generation":
        return cls(config, pipe=pipe, runtime=runtime)
    return cls(config)


__all__ = [
    "WATERMARKS",
    "Watermark",
    "WatermarkConfig",
    "bit_agreement",
    "bits_to_string",
    "build_watermark",
    "parse_payload",
]
