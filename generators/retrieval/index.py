"""Nearest-neighbour search over unit-norm embeddings by inner product (= cosine): exact search in
torch, or a FAISS index (``flat``: exact, the same results as torch; ``ivf`` / ``hnsw``: approximate, for
large bases; ``ivfpq``: approximate and compressed, for millions of entries: product-quantised inverted
lists, the candidates re-ranked on 8-bit scalar-quantised vectors, about 0.9 GB per million 768-d
entries instead of 3 GB).

A saved FAISS index is memory-mapped when it is loaded (``IndexSettings.mmap``): the operating system
pages in what the queries touch, so a base larger than the memory can be searched, and several processes
share one copy. Adding to a mapped index first reads it into memory.

Both answer ``search(queries, k, allowed)`` with ``(scores, ids)`` of shape `(Q, k')`, best first, where
``k' = min(k, number of allowed entries)``; ``allowed`` is an optional bool mask `(N,)` (metadata filters).

Example:
    >>> import torch
    >>> x = torch.nn.functional.normalize(torch.randn(100, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    >>> exact, flat = build_index(x, IndexSettings()), build_index(x, IndexSettings(kind="flat"))
    >>> bool((exact.search(x[:3], 5)[1] == flat.search(x[:3], 5)[1]).all())
    True
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)

__all__ = ["ExactIndex", "FaissIndex", "IndexSettings", "build_index"]

IndexKind = Literal["exact", "flat", "ivf", "hnsw", "ivfpq"]
RefineKind = Literal["none", "SQ8", "SQfp16", "Flat"]


class IndexSettings(BaseModel):
    """How a knowledge base searches.

    Args:
        kind: ``exact`` (torch matrix product, the default), ``flat`` (FAISS exact inner product),
            ``ivf`` (FAISS inverted lists, approximate), ``hnsw`` (FAISS graph, approximate) or ``ivfpq``
            (inverted lists of product-quantised codes, re-ranked: approximate and compressed).
        nlist: IVF lists (``None``: ``sqrt(N)``, at most ``N / 39``); the lists are trained on at most
            ``64 * nlist`` vectors.
        nprobe: IVF lists visited per query (``ivf``, ``ivfpq``).
        hnsw_m: HNSW neighbours per node.
        ef_construction, ef_search: HNSW beam widths at build and at query time.
        pq_m: ``ivfpq`` sub-quantisers, bytes per code at 8 bits (``None``: ``D / 8``; must divide ``D``).
        pq_bits: bits per sub-quantiser code.
        refine: ``ivfpq`` re-ranking codes: ``SQ8`` (1 byte per dimension, the default), ``SQfp16``,
            ``Flat`` (float32, exact re-ranking) or ``none`` (the PQ distances only: smallest, least recall).
        refine_factor: ``ivfpq`` candidates re-ranked per query, as a multiple of ``k``.
        mmap: memory-map a saved FAISS index when loading it (instead of reading it into memory).
    """

    model_config = ConfigDict(extra="forbid")

    kind: IndexKind = "exact"
    nlist: int | None = Field(default=None, ge=1)
    nprobe: int = Field(default=32, ge=1)
    hnsw_m: int = Field(default=32, ge=4)
    ef_construction: int = Field(default=80, ge=8)
    ef_search: int = Field(default=128, ge=8)
    pq_m: int | None = Field(default=None, ge=1)
    pq_bits: int = Field(default=8, ge=4, le=12)
    refine: RefineKind = "SQ8"
    refine_factor: int = Field(default=24, ge=1)
    mmap: bool = True


def _check_queries(queries: torch.Tensor, dim: int) -> torch.Tensor:
    queries = torch.as_tensor(queries, dtype=torch.float32)
    if queries.ndim == 1:
        queries = queries[None]
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise ValueError(f"queries must have shape (Q, {dim}), got {tuple(queries.shape)}")
    return queries.cpu().contiguous()


def mask_scores(
    scores: torch.Tensor, k: int, allowed: torch.Tensor | None = None
) -> tuple[torch.Tensor, int]:
    """``scores`` `(Q, N)` with entries outside ``allowed`` `(N,)` at -inf, and ``k`` cut to the allowed count."""
    n_valid = scores.shape[1]
    if allowed is not None:
        scores = scores.masked_fill(~allowed.to(torch.bool)[None], float("-inf"))
        n_valid = int(allowed.sum())
    return scores, min(int(k), n_valid)


class ExactIndex:
    """Exact inner-product search in torch over `(N, D)` float32 vectors."""

    kind = "exact"

    def __init__(self, vectors: torch.Tensor) -> None:
        self.vectors = torch.as_tensor(vectors, dtype=torch.float32).cpu().contiguous()  # (N, D)

    def __len__(self) -> int:
        return self.vectors.shape[0]

    def add(self, vectors: torch.Tensor) -> None:
        self.vectors = torch.cat([self.vectors, torch.as_tensor(vectors, dtype=torch.float32).cpu()])

    def search(
        self, queries: torch.Tensor, k: int, allowed: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        queries = _check_queries(queries, self.vectors.shape[1])  # (Q, D)
        scores, k = mask_scores(queries @ self.vectors.T, k, allowed)  # (Q, N)
        top = scores.topk(k, dim=1, sorted=True)
        return top.values, top.indices  # (Q, k) each


class FaissIndex:
    """A FAISS inner-product index (``flat``, ``ivf`` or ``hnsw``) over `(N, D)` float32 vectors."""

    def __init__(self, settings: IndexSettings, dim: int) -> None:
        import faiss

        self.settings, self.dim = settings, int(dim)
        self.kind = settings.kind
        self._faiss = faiss
        self.index = None
        self.trained_on = 0
        self.path: Path | None = None  # the file a memory-mapped index reads from

    def _create(self, n: int) -> None:
        faiss, s = self._faiss, self.settings
        if s.kind == "flat":
            self.index = faiss.IndexFlatIP(self.dim)
        elif s.kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(self.dim, s.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = s.ef_construction
        elif s.kind == "ivf":
            quantizer = faiss.IndexFlatIP(self.dim)
            self.index = faiss.IndexIVFFlat(quantizer, self.dim, self._nlist(n), faiss.METRIC_INNER_PRODUCT)
            self._quantizer = quantizer  # keep it alive beside the index
        elif s.kind == "ivfpq":
            m = s.pq_m or max(1, self.dim // 8)
            if self.dim % m:
                raise ValueError(f"pq_m {m} must divide the embedding dimension {self.dim}")
            # "np": no polysemous training (slow at many sub-quantisers, and unused by these searches)
            spec = f"IVF{self._nlist(n)},PQ{m}x{s.pq_bits}np"
            if s.refine != "none":
                spec += f",Refine({s.refine})"
            self.index = faiss.index_factory(self.dim, spec, faiss.METRIC_INNER_PRODUCT)
        else:
            raise ValueError(f"FaissIndex kind must be 'flat', 'ivf', 'hnsw' or 'ivfpq', got {s.kind!r}")

    def _nlist(self, n: int) -> int:
        nlist = self.settings.nlist or int(math.sqrt(max(n, 1)))
        return max(1, min(nlist, n // 39 if n >= 39 else 1))

    @property
    def _ivf(self):
        """The inverted-file index inside (``ivf``, ``ivfpq``)."""
        return self._faiss.extract_index_ivf(self.index)

    def __len__(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    def add(self, vectors: torch.Tensor) -> None:
        x = np.ascontiguousarray(torch.as_tensor(vectors, dtype=torch.float32).cpu().numpy())  # (n, D)
        if x.shape[0] == 0:
            return
        if self.path is not None:  # a memory-mapped index is read-only: read it into memory first
            self.index, self.path = self._faiss.read_index(str(self.path)), None
        if self.index is None:
            self._create(x.shape[0])
            if not self.index.is_trained:
                rng = np.random.default_rng(0)
                cap = 64 * self._ivf.nlist
                sample = x if x.shape[0] <= cap else x[np.sort(rng.choice(x.shape[0], cap, replace=False))]
                self.index.train(sample)
                self.trained_on = x.shape[0]
        self.index.add(x)

    def _params(self, allowed: torch.Tensor | None):
        faiss, s = self._faiss, self.settings
        sel = None
        if allowed is not None:
            ids = np.ascontiguousarray(
                torch.nonzero(allowed.to(torch.bool)).flatten().numpy().astype(np.int64)
            )
            sel = faiss.IDSelectorBatch(ids)
        if s.kind in ("ivf", "ivfpq"):
            params = faiss.SearchParametersIVF(nprobe=min(s.nprobe, self._ivf.nlist))
        elif s.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=s.ef_search)
        else:
            params = faiss.SearchParameters() if sel is not None else None
        if sel is not None:
            params.sel = sel
            params._sel_ref = sel  # the selector must outlive the call
        if s.kind == "ivfpq" and s.refine != "none":
            outer = faiss.IndexRefineSearchParameters(
                k_factor=float(s.refine_factor), base_index_params=params
            )
            outer._base_ref = params  # the inner parameters must outlive the call
            if sel is not None:
                outer.sel = sel
            return outer
        return params

    def search(
        self, queries: torch.Tensor, k: int, allowed: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        q = _check_queries(queries, self.dim).numpy()  # (Q, D)
        n_valid = len(self) if allowed is None else int(allowed.sum())
        k = min(int(k), n_valid)
        if k == 0 or self.index is None:
            return torch.zeros(q.shape[0], 0), torch.zeros(q.shape[0], 0, dtype=torch.long)
        params = self._params(allowed)
        scores, ids = (
            self.index.search(q, k, params=params) if params is not None else self.index.search(q, k)
        )
        scores, ids = torch.from_numpy(scores), torch.from_numpy(ids)  # (Q, k); -1 where fewer were found
        if bool((ids < 0).any()):
            found = int((ids >= 0).sum(dim=1).min())
            scores, ids = scores[:, :found], ids[:, :found]
        return scores, ids

    def save(self, path: str | Path) -> None:
        from workbench.io import atomic_path  # deferred: PIL

        with atomic_path(path) as tmp:
            self._faiss.write_index(self.index, str(tmp))

    @classmethod
    def load(cls, path: str | Path, settings: IndexSettings, dim: int) -> FaissIndex:
        """A saved index, memory-mapped when ``settings.mmap`` (the file must then stay in place)."""
        out = cls(settings, dim)
        faiss = out._faiss
        if settings.mmap:
            # IO_FLAG_MMAP_IFC maps the file and reads every code array in place (flat and HNSW storage,
            # inverted lists, re-ranking codes); IO_FLAG_MMAP maps the inverted lists only
            out.index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
            out.path = Path(path)
        else:
            out.index = faiss.read_index(str(path))
        return out


def build_index(vectors: torch.Tensor, settings: IndexSettings) -> ExactIndex | FaissIndex:
    """An index of ``settings.kind`` over ``vectors`` `(N, D)` (unit norm for cosine search)."""
    if settings.kind == "exact":
        return ExactIndex(vectors)
    index = FaissIndex(settings, vectors.shape[1])
    index.add(vectors)
    return index
