"""The registry of image attacks (name -> attack class)."""

from __future__ import annotations

from workbench.registry import Registry

IMAGE_ATTACKS: Registry = Registry("image attack")
