"""Experiments shipped with the workbench itself: ``smoke`` (random-weight components, used by the
tests) and ``tour`` (the main job on the embedded toy world)."""
