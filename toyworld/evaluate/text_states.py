"""How far apart a text encoder keeps the token states of captions that differ in one attribute.

A Stable Diffusion UNet reads the prompt only through these states (cross-attention); where two captions
that name different colours, shapes or positions give nearly the same states, the generator cannot learn
that attribute, whatever it is trained on. For each attribute, captions differing in one word (``"a red
circle on the left"`` / ``"... on the right"``) are encoded, and the cosine similarity of the states at
the differing token is averaged over all pairs: 1 means indistinguishable.

Example:
    >>> text_state_cosines(pipe.tokenizer, pipe.text_encoder)  # doctest: +SKIP
    {'text_cosine_color': 0.50, 'text_cosine_shape': 0.91, 'text_cosine_position': 0.99}
"""

from __future__ import annotations

import itertools

import torch

from ..train.data import prompt_ids
from ..vocab import COLOR_NAMES, SHAPES

__all__ = ["text_state_cosines"]

# per attribute, groups of same-length captions that differ in exactly one token; pairs come from within a group
_FAMILIES: dict[str, list[list[str]]] = {
    "color": [[f"a {c} circle on the left" for c in COLOR_NAMES]],
    "shape": [[f"a red {s} on the left" for s in SHAPES]],
    "position": [
        ["a red circle on the left", "a red circle on the right"],
        ["a red circle at the top", "a red circle at the bottom"],
    ],
}


def _pair_cosines(tokenizer, text_encoder, captions: list[str]) -> list[float]:
    ids = prompt_ids(tokenizer, captions, text_encoder.device)  # (N, 77)
    states = torch.nn.functional.normalize(text_encoder(ids)[0].float(), dim=-1)  # (N, 77, D)
    out = []
    for i, j in itertools.combinations(range(len(captions)), 2):
        differ = (ids[i] != ids[j]).nonzero().flatten()
        if len(differ) != 1:
            raise ValueError(f"{captions[i]!r} and {captions[j]!r} must differ in exactly one token")
        k = int(differ[0])
        out.append(float(states[i, k] @ states[j, k]))
    return out


@torch.no_grad()
def text_state_cosines(tokenizer, text_encoder) -> dict[str, float]:
    """Mean cosine similarity of the token states at the word that differs, per attribute (colour, shape,
    position); lower is more distinct."""
    result = {}
    for kind, groups in _FAMILIES.items():
        cos = [c for captions in groups for c in _pair_cosines(tokenizer, text_encoder, captions)]
        result[f"text_cosine_{kind}"] = sum(cos) / len(cos)
    return result
