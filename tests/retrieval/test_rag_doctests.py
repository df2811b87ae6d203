"""The ``Example:`` blocks of the retrieval modules run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "generators.retrieval",
    "generators.retrieval.embedder",
    "generators.retrieval.sources",
    "generators.retrieval.index",
    "generators.retrieval.lexical",
    "generators.retrieval.knowledge_base",
    "generators.retrieval.retriever",
    "generators.retrieval.guidance",
    "generators.retrieval.conditioner",
    "generators.retrieval.entity_scenes",
    "generators.retrieval.entitydraw",
    "generators.retrieval.pipeline_retrieval",
    "generators.retrieval.blend",
    "generators.retrieval.boxes",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
