"""Adversarial image metrics (CLIPMasterPrints)."""

from metrics.adversarial.fooling import FoolingAccuracy

__all__ = ["FoolingAccuracy"]
