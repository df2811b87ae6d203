"""Registers the visual paraphrase attack as ``paraphrase`` (implemented in :mod:`attacks.paraphrase`,
whose class registers itself with :data:`IMAGE_ATTACKS` when imported)."""

from __future__ import annotations

import attacks.paraphrase.attack  # noqa: F401
