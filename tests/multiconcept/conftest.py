"""Fixtures of the multi-concept tests: random-weight SD-1.5-shaped pipelines and toy concepts."""

from __future__ import annotations

import pytest
import torch

PROMPT = "a large red circle on the left and a large blue star on the right"


def toy_concepts(size: int = 32, n: int = 2):
    """``n`` toy-world concepts (reference + exact mask + prompt) rendered at ``size``."""
    from generators.multiconcept import Concept
    from generators.multiconcept.toy_concepts import ToyConcept

    toys = [
        ToyConcept("circle", "red"),
        ToyConcept("star", "blue"),
        ToyConcept("square", "yellow", "striped"),
    ]
    out = []
    for k in range(n):
        toy = toys[k % len(toys)]
        image, mask = toy.render(size)
        out.append(Concept(image, toy.prompt, mask))
    return out


@pytest.fixture(scope="module")
def sd_pipe():
    from workbench.dummy import dummy_sd_pipeline

    return dummy_sd_pipeline()


@pytest.fixture(scope="module")
def mc_pipe(sd_pipe):
    from generators.multiconcept import MultiConceptPipeline

    return MultiConceptPipeline.from_pipe(sd_pipe)


@pytest.fixture
def concepts():
    return toy_concepts()


def gen(seed: int = 0, n: int = 1) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed + i) for i in range(n)]
