"""Nearest neighbours over item vectors, with filters applied during the search.

Backed by faiss (imported on first use: part of the ``semantic`` extra). Up to
:data:`EXACT_ITEMS` vectors the index is exact (a flat inner-product scan, ~1 ms);
above, an HNSW graph. A filter is a boolean mask over rows, passed to faiss as an
``IDSelectorBitmap`` so that only matching rows are returned; when the mask keeps few
rows, or the graph search comes back short, the rows are scanned exactly, so a
filtered search returns ``k`` results whenever ``k`` rows match.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from endcap.semantic.provider import SemanticUnavailable, Vectors

#: Up to this many vectors, search is an exact scan.
EXACT_ITEMS = 20_000
#: A filtered search over at most this many matching rows scans them exactly.
EXACT_FILTERED = 20_000
#: HNSW graph degree and build-time beam.
HNSW_M = 32
EF_CONSTRUCTION = 80
#: The search beam is at least this wide (and at least 2 k). bench/semantic_cost.py
#: measured recall@10 at 100k items: 0.87 at 64, 0.94 at 128, 0.98 at 256.
EF_SEARCH = 128

Rows = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]


def faiss_module() -> Any:
    try:
        import faiss
    except ImportError as e:
        raise SemanticUnavailable("the vector index needs faiss: install endcap's "
                                  "`semantic` extra") from e
    return faiss


class VectorIndex:
    """Rows of unit vectors searched by inner product (= cosine)."""

    def __init__(self, index: Any, dim: int) -> None:
        self._index = index
        self.dim = dim
        faiss = faiss_module()
        self.hnsw = isinstance(index, faiss.IndexHNSW)
        self._flat = index.storage if self.hnsw else index

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @staticmethod
    def build(vectors: Vectors, *, exact_below: int = EXACT_ITEMS) -> VectorIndex:
        faiss = faiss_module()
        n, dim = vectors.shape
        if n <= exact_below:
            index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = EF_CONSTRUCTION
        out = VectorIndex(index, dim)
        out.add(vectors)
        return out

    def add(self, vectors: Vectors) -> None:
        """Append rows (their row numbers continue from ``len(self)``)."""
        if len(vectors):
            self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def vectors(self, rows: npt.ArrayLike) -> Vectors:
        """The stored vectors of ``rows``."""
        r = np.asarray(rows, dtype=np.int64)
        if r.size == 0:
            return np.zeros((0, self.dim), np.float32)
        out: Vectors = self._flat.reconstruct_batch(r)
        return out

    def search(self, query: Vectors, k: int, allowed: Mask | None = None
               ) -> tuple[Rows, Scores]:
        """The ``k`` rows nearest to ``query`` (one vector) among ``allowed``, best first."""
        faiss = faiss_module()
        n = len(self)
        k = min(k, n)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if allowed is None:
            if self.hnsw:
                params = faiss.SearchParametersHNSW(efSearch=max(EF_SEARCH, 2 * k))
                scores, rows = self._index.search(q, k, params=params)
            else:
                scores, rows = self._index.search(q, k)
            return _valid(rows[0], scores[0])
        matching = int(np.count_nonzero(allowed))
        k = min(k, matching)
        if k == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        bits = np.packbits(allowed, bitorder="little")
        selector = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits))
        if self.hnsw and matching > EXACT_FILTERED:
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(EF_SEARCH, 2 * k))
            scores, rows = self._index.search(q, k, params=params)
            got = _valid(rows[0], scores[0])
            if len(got[0]) >= k:
                return got
        scores, rows = self._flat.search(q, k, params=faiss.SearchParameters(sel=selector))
        return _valid(rows[0], scores[0])

    def search_many(self, queries: Vectors, k: int) -> tuple[npt.NDArray[np.int64], Scores]:
        """The ``k`` nearest rows of each query (``-1`` pads), for batch use."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if self.hnsw:
            params = faiss_module().SearchParametersHNSW(efSearch=max(EF_SEARCH, 2 * k))
            scores, rows = self._index.search(q, k, params=params)
        else:
            scores, rows = self._index.search(q, k)
        return rows.astype(np.int64), scores.astype(np.float32)

    def to_bytes(self) -> bytes:
        return bytes(faiss_module().serialize_index(self._index))

    @staticmethod
    def from_bytes(data: bytes, dim: int) -> VectorIndex:
        faiss = faiss_module()
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        return VectorIndex(index, dim)


def _valid(rows: npt.NDArray[np.int64], scores: npt.NDArray[np.float32]
           ) -> tuple[Rows, Scores]:
    keep = rows >= 0
    return rows[keep].astype(np.int64), scores[keep].astype(np.float32)
