"""The ``Example:`` blocks of the foundation modules run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "workbench.config",
    "workbench.io",
    "workbench.report",
    "workbench.runs.checkpoint",
    "workbench.runs.lock",
    "workbench.runs.manifest",
    "workbench.runs.metrics",
    "workbench.experiments",
    "workbench.dummy",
    "workbench.loading",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
