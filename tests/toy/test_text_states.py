"""The text-state diagnostic: 1 where an encoder ignores a word, lower where it keeps words apart."""

import pytest
import torch
from transformers import CLIPTokenizer

from toyworld.evaluate.text_states import _pair_cosines, text_state_cosines
from toyworld.train.registry import MODELS_DIR


class _Encoder(torch.nn.Module):
    """Token states = a fixed table's rows (``table``) or one shared vector (``blind``)."""

    def __init__(self, vocab: int, blind: bool):
        super().__init__()
        self.table = torch.nn.Embedding(vocab, 8)
        self.blind = blind

    @property
    def device(self):
        return self.table.weight.device

    def forward(self, ids):
        states = self.table(torch.zeros_like(ids) if self.blind else ids)
        return (states,)


@pytest.fixture(scope="module")
def tokenizer():
    return CLIPTokenizer.from_pretrained(MODELS_DIR / "sd" / "tokenizer")


def test_an_encoder_blind_to_words_scores_one_and_word_embeddings_score_lower(tokenizer):
    torch.manual_seed(0)
    blind = text_state_cosines(tokenizer, _Encoder(len(tokenizer), blind=True))
    assert set(blind) == {"text_cosine_color", "text_cosine_shape", "text_cosine_position"}
    assert all(v == pytest.approx(1.0) for v in blind.values())
    seeing = text_state_cosines(tokenizer, _Encoder(len(tokenizer), blind=False))
    assert all(v < 0.9 for v in seeing.values())  # random 8-d word vectors are far from parallel


def test_captions_must_differ_in_one_token(tokenizer):
    with pytest.raises(ValueError, match="exactly one token"):
        _pair_cosines(tokenizer, _Encoder(len(tokenizer), blind=True), ["a red circle", "a blue square"])
