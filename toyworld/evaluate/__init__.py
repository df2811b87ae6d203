"""Held-out evaluation of the toy models (``workbench toy eval``)."""
