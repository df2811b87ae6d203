"""Which prompt tokens a layout phrase owns: the cross-attention columns that box guidance steers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .layout import LayoutError

__all__ = ["STOP_WORDS", "phrase_token_indices"]

# Tokens of a phrase that carry no object (their attention is not steered).
STOP_WORDS: frozenset[str] = frozenset({"a", "an", "the", "of", "with", "and", "on", "in", "at"})


def _find(haystack: Sequence[int], needle: Sequence[int]) -> int:
    n = len(needle)
    for start in range(len(haystack) - n + 1):
        if list(haystack[start : start + n]) == list(needle):
            return start
    return -1


def _is_stop_word(pieces: Sequence[str], k: int) -> bool:
    """Whether piece ``k`` is a whole stop word (CLIP BPE ends a word with ``</w>``)."""
    piece = pieces[k]
    whole = piece.endswith("</w>") and (k == 0 or pieces[k - 1].endswith("</w>"))
    if not any(p.endswith("</w>") for p in pieces):  # a tokenizer without word-end marks
        whole = True
    return whole and piece.replace("</w>", "").strip().lower() in STOP_WORDS


def phrase_token_indices(tokenizer: Any, prompt: str, phrases: Sequence[str]) -> list[list[int]]:
    """For each phrase, the indices of its content tokens in the tokenised ``prompt`` (padding to
    ``tokenizer.model_max_length`` and the start token included, as the text encoder sees it).

    Articles and prepositions (:data:`STOP_WORDS`) are left out unless the phrase has nothing else.

    Args:
        tokenizer: a ``CLIPTokenizer`` (any tokenizer whose word pieces do not cross word boundaries).
        prompt: the prompt the text encoder embeds.
        phrases: parts of the prompt, in layout order.

    Returns:
        ``list[list[int]]``: per phrase, sorted token positions in ``[1, model_max_length)``.

    Raises:
        LayoutError: a phrase is not in the prompt, or lies beyond the context length (truncated).
    """
    max_len = int(getattr(tokenizer, "model_max_length", 77))
    prompt_ids = tokenizer(prompt.lower(), add_special_tokens=True).input_ids
    truncated = len(prompt_ids) > max_len
    prompt_ids = prompt_ids[:max_len]
    out: list[list[int]] = []
    for phrase in phrases:
        ids = tokenizer(phrase.lower(), add_special_tokens=False).input_ids
        if not ids:
            raise LayoutError(f"phrase {phrase!r} tokenises to nothing")
        start = _find(prompt_ids, ids)
        if start < 0:
            where = " (the prompt is cut at the text encoder's context length)" if truncated else ""
            raise LayoutError(f"phrase {phrase!r} does not occur in the prompt {prompt!r}{where}")
        pieces = tokenizer.convert_ids_to_tokens(ids)
        keep = [start + k for k in range(len(pieces)) if not _is_stop_word(pieces, k)]
        out.append(keep or list(range(start, start + len(ids))))
    return out
