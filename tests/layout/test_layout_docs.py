"""The documentation examples run (module doctests and the pipelines' EXAMPLE_DOC_STRING)."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "generators.layout.layout",
        "generators.layout.graphics",
        "generators.layout.poster",
        "generators.layout.background",
        "generators.layout.gcdp.scheduler",
        "generators.layout.gcdp.pipeline",
        "toyworld.semantic",
    ],
)
def test_module_doctests(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    "module", ["generators.layout.box_guidance.pipeline", "generators.layout.regions.pipeline"]
)
def test_pipeline_examples(module):
    mod = importlib.import_module(module)
    parser = doctest.DocTestParser()
    test = parser.get_doctest(mod.EXAMPLE_DOC_STRING, {}, module, module, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert test.examples and runner.failures == 0
