"""The toy CLIP tokenizer: a real CLIP BPE tokenizer whose merges spell out the closed vocabulary.

``CLIPTokenizer(vocab=..., merges=[])`` would split words into characters; here every word of the
shapes world gets the merges that make it one token (``"circle</w>"``), found by tokenising and
adding the merge of the first two pieces until each word is whole. Unknown words still tokenise,
character by character, as CLIP's byte-level BPE does.
"""

from __future__ import annotations

from pathlib import Path

from .vocab import all_words

BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def _bytes_to_unicode() -> dict[int, str]:
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def build_clip_tokenizer(out_dir: str | Path | None = None, model_max_length: int = 77):
    """Build (and optionally save) the toy ``CLIPTokenizer``; returns the tokenizer."""
    from transformers import CLIPTokenizer

    chars = list(_bytes_to_unicode().values())
    vocab_tokens = chars + [c + "</w>" for c in chars]
    merges: list[tuple[str, str]] = []
    words = all_words() + [",", "."]
    for _ in range(64):
        tokens = vocab_tokens + [a + b for a, b in merges] + [BOS, EOS]
        vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
        tok = CLIPTokenizer(vocab=vocab, merges=list(merges), model_max_length=model_max_length)
        added = False
        for w in words:
            pieces = tok.tokenize(w)
            if len(pieces) > 1:
                merges.append((pieces[0], pieces[1]))
                added = True
        if not added:
            break
    else:
        raise RuntimeError("could not build merges for the toy vocabulary")
    if out_dir is not None:
        tok.save_pretrained(str(out_dir))
    return tok
