from transformers import BertTokenizer, CLIPTokenizer

from toyworld.tokenizer import build_clip_tokenizer
from toyworld.train.captioner import build_blip_tokenizer
from toyworld.vocab import all_words


def test_clip_tokenizer_keeps_every_world_word_whole(tmp_path):
    tok = build_clip_tokenizer(tmp_path)
    for w in all_words():
        assert tok.tokenize(w) == [w + "</w>"]
    loaded = CLIPTokenizer.from_pretrained(tmp_path)
    assert len(loaded) == len(tok) > 500
    ids = loaded("a red circle").input_ids
    assert ids[0] == loaded.bos_token_id and ids[-1] == loaded.eos_token_id and len(ids) == 5
    # unknown words still tokenise, character by character
    assert len(loaded.tokenize("xyzzy")) == 5


def test_blip_tokenizer_round_trip(tmp_path):
    tok = build_blip_tokenizer(tmp_path)
    loaded = BertTokenizer.from_pretrained(tmp_path)
    text = "a large striped red circle on the left and a small blue zorvik emblem at the top"
    ids = loaded(text).input_ids
    assert len(ids) == len(text.split()) + 2
    assert loaded.decode(ids, skip_special_tokens=True) == text
    assert tok.bos_token == "[DEC]"
