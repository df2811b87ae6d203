"""Fixtures of the masterprints tests."""

from __future__ import annotations

import pytest

from .tiny_models import tiny_clip, tiny_vae, word_tokenizer


@pytest.fixture(scope="session")
def tokenizer():
    return word_tokenizer()


@pytest.fixture(scope="session")
def clip_scorer(tokenizer):
    from attacks.masterprints.scorers import CLIPScorer

    return CLIPScorer(tiny_clip(0), tokenizer)


@pytest.fixture(scope="session")
def vae():
    return tiny_vae(0)
