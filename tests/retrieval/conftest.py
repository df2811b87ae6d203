"""Fixtures of the retrieval tests: a random-weight CLIP embedder, a small toy-catalogue knowledge base and
a random-weight SD pipeline (SD-1.5-shaped, shrunk)."""

from __future__ import annotations

import pytest

ENTITIES = ["zorvik", "plimble", "pazzle", "xandro"]  # frequent, frequent, rare, unseen


@pytest.fixture(scope="session")
def embedder():
    from generators.retrieval import ClipEmbedder
    from workbench.dummy import dummy_clip

    return ClipEmbedder(*dummy_clip(seed=0), name="dummy-clip")


@pytest.fixture(scope="session")
def catalogue():
    from generators.retrieval import ToyEntitySource

    return ToyEntitySource(views_per_entity=2, entities=ENTITIES)


@pytest.fixture(scope="session")
def kb(tmp_path_factory, embedder, catalogue):
    from generators.retrieval import KnowledgeBase

    return KnowledgeBase.build(tmp_path_factory.mktemp("kb"), catalogue, embedder, chunk_size=3)


@pytest.fixture(scope="session")
def sd_pipe():
    from workbench.dummy import dummy_sd_pipeline

    return dummy_sd_pipeline(seed=0)
