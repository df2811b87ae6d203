"""Lexical text-to-text search: BM25 (bm25s) over the knowledge base's captions.

Embedding search finds what a CLIP text encoder has learnt to tell apart; a rare or invented name
(``"xandro"``) it may embed close to others. BM25 matches the name's token itself, so every entry whose
caption holds the name ranks above those that do not, whatever the encoder knows.

The index answers ``search(queries, k, allowed)`` with ``(scores, ids)`` of shape `(Q, k')` like the
embedding indexes (:mod:`generators.retrieval.index`), ``k' = min(k, allowed entries)``.

Example:
    >>> index = Bm25Index(["a zorvik emblem on the left", "a plimble emblem", "a red circle"])
    >>> index.search(["a plimble emblem at the top"], k=2)[1].tolist()[0][0]
    1
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from generators.retrieval.index import mask_scores

__all__ = ["Bm25Index"]


def _tokenize(texts: Sequence[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize(list(texts), stopwords="en", return_ids=False, show_progress=False)


class Bm25Index:
    """BM25 over captions (lower-cased word tokens, English stop words dropped).

    Args:
        texts: the entries' captions, row ``i`` = entry ``i``.
        k1, b: BM25's term-frequency saturation and length normalisation.
    """

    kind = "bm25"

    def __init__(self, texts: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = float(k1), float(b)
        self.texts: list[str] = []
        self._model = None
        self.add(texts)

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, texts: Sequence[str]) -> None:
        """Add captions (the index is rebuilt: BM25's statistics are corpus-wide)."""
        import bm25s

        self.texts.extend(str(t) for t in texts)
        self._model = None
        if self.texts:
            self._model = bm25s.BM25(k1=self.k1, b=self.b)
            self._model.index(_tokenize(self.texts), show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of ``query`` against every entry, `(N,)` float32."""
        if self._model is None:
            return np.zeros(0, dtype=np.float32)
        tokens = _tokenize([query])[0]
        return np.asarray(self._model.get_scores(tokens), dtype=np.float32)

    def search(
        self, queries: Sequence[str], k: int, allowed: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` best entries per query by BM25 score, ties broken by row (stable)."""
        if isinstance(queries, (str, torch.Tensor)) or not all(isinstance(q, str) for q in queries):
            raise ValueError("BM25 search takes captions (a list of str), not images or vectors")
        if not queries:
            return torch.zeros(0, 0), torch.zeros(0, 0, dtype=torch.long)
        scores = torch.from_numpy(np.stack([self.scores(q) for q in queries]))  # (Q, N)
        scores, k = mask_scores(scores, k, allowed)
        order = torch.sort(scores, dim=1, descending=True, stable=True)
        return order.values[:, :k], order.indices[:, :k]  # (Q, k) each
