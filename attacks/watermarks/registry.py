"""The registry of watermarks (name -> watermark class)."""

from __future__ import annotations

from workbench.registry import Registry

WATERMARKS: Registry = Registry("watermark")
