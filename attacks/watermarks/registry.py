"""The registry of watermarks (name -> watermark class)."""

from __future__ import annotations

from attacks.registries import WATERMARKS  # noqa: F401  (re-exported)
