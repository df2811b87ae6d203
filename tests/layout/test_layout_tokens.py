"""Phrase -> prompt token indices."""

from __future__ import annotations

import pytest

from generators.layout import LayoutError
from generators.layout.tokens import phrase_token_indices
from workbench.dummy import dummy_tokenizer


def test_indices_skip_articles_and_handle_word_pieces():
    tok = dummy_tokenizer()
    prompt = "a large red circle on the left and a zorvik emblem"
    big, ent = phrase_token_indices(tok, prompt, ["a large red circle", "a zorvik emblem"])
    ids = tok(prompt).input_ids
    assert [tok.convert_ids_to_tokens(ids[i]) for i in big] == ["large</w>", "red</w>", "circle</w>"]
    pieces = [tok.convert_ids_to_tokens(ids[i]) for i in ent]
    assert "a</w>" not in pieces and pieces[-1] == "emblem</w>" and len(pieces) >= 3  # "zorvik" is split


def test_missing_phrase_raises():
    with pytest.raises(LayoutError, match="does not occur"):
        phrase_token_indices(dummy_tokenizer(), "a red circle", ["a blue circle"])
