"""Shared tiny models of the layout tests: SD-1.5-shaped random-weight components (workbench.dummy)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest  # noqa: E402

PROMPT = "a red circle on the left and a blue square on the right"


@pytest.fixture(scope="session")
def components():
    from workbench.dummy import dummy_sd_components

    return dummy_sd_components(seed=0)


@pytest.fixture(scope="session")
def two_boxes():
    from generators.layout import BoxLayout

    return BoxLayout(
        phrases=["a red circle", "a blue square"], boxes=[(0.0, 0.25, 0.5, 0.75), (0.5, 0.25, 1.0, 0.75)]
    )


def make(cls, components):
    pipe = cls(**components, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe
