"""The attacks' registries, light to import (the attack and watermark packages fill them when imported;
``attacks.plugin`` declares their names so that listing them loads nothing)."""

from __future__ import annotations

from workbench.registry import Registry

__all__ = ["IMAGE_ATTACKS", "WATERMARKS"]

IMAGE_ATTACKS: Registry = Registry("image attack")
WATERMARKS: Registry = Registry("watermark")
