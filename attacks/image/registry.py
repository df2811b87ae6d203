"""The registry of image attacks (name -> attack class)."""

from __future__ import annotations

from attacks.registries import IMAGE_ATTACKS  # noqa: F401  (re-exported)
