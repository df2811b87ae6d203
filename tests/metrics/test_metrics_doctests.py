"""The ``Example:`` blocks of the metrics docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "metrics",
    "metrics.functional.ssim",
    "metrics.functional.psnr",
    "metrics.functional.mse",
    "metrics.image.ssim",
    "metrics.image.psnr",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
