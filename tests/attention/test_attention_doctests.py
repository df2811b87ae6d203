"""The ``Example:`` blocks of the attention layer run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "workbench.attention",
    "workbench.attention.selection",
    "workbench.attention.install",
    "workbench.attention.reference",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
