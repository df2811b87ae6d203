"""Input limits of the metrics layer, light to import (the ``score`` command's defaults read them)."""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_PIXELS"]

DEFAULT_MAX_PIXELS = 4096 * 4096
"""The largest image (width x height) read by default; larger ones are refused from their header."""
