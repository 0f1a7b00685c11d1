"""Item-to-item similarity: text vectors, co-occurrence cosines, and top-K per row.

Nothing here holds an items × items matrix: similarities are computed for a block of
rows at a time (a sparse product) and cut to each row's top K before the next block.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from endcap.catalog.model import Item
from endcap.train.model import FloatArray, IntArray

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def category_prefixes(path: str) -> list[str]:
    """"Home/Kitchen/Knives" -> ["Home", "Home/Kitchen", "Home/Kitchen/Knives"]: the
    prefixes :func:`endcap.catalog.model.in_category` matches the path under."""
    parts = path.strip("/").split("/")
    return ["/".join(parts[: k + 1]) for k in range(len(parts)) if parts[k]]


def _attributes(item: Item) -> list[str]:
    """Exact-match tokens: every category prefix, the brand, each facet value."""
    out = [f"cat:{p.lower()}" for c in item.categories for p in category_prefixes(c)]
    if item.brand:
        out.append(f"brand:{item.brand.strip().lower()}")
    for key, value in item.facets.items():
        for v in [value] if isinstance(value, str) else value:
            out.append(f"facet:{key.strip().lower()}={v.strip().lower()}")
    return out


def _words(item: Item) -> str:
    """Free text beside the name: category words, brand and facet values read as words."""
    facets = " ".join(v if isinstance(v, str) else " ".join(v) for v in item.facets.values())
    return " ".join([item.description, " ".join(item.categories).replace("/", " "),
                     item.brand, facets])


def _tfidf(docs: Sequence[str] | Sequence[list[str]], max_df: int, *,
           tokens: bool = False) -> sp.csr_matrix | None:
    """Row-normalised TF-IDF of ``docs`` (``None`` when they hold no usable term).

    Terms in more than ``max_df`` documents are dropped: they say little and make the
    similarity products dense."""
    vec = TfidfVectorizer(
        analyzer=(lambda d: d) if tokens else "word",
        stop_words=None if tokens else "english",
        sublinear_tf=True, max_df=max_df, min_df=1, dtype=np.float64,
    )
    try:
        m: sp.csr_matrix = vec.fit_transform(docs)
    except ValueError:  # empty vocabulary
        return None
    return m


#: A term shared by more items than this says little about which are alike, and would
#: make every text product touch that many items per row: it is dropped.
TEXT_MAX_DF_ITEMS = 2_000


def text_vectors(items: Sequence[Item], *, name_weight: float, words_weight: float,
                 attribute_weight: float, max_df_fraction: float) -> sp.csr_matrix:
    """Unit-length sparse vectors (one row per item, zero rows for items with no text)
    whose dot products are the items' text-and-attribute cosine similarity.

    Three TF-IDF blocks, each unit-normalised then weighted: the name's words, the other
    words (description, category, brand, facet values), and exact attribute tokens
    (category prefixes, brand, facet key=value)."""
    n = len(items)
    # Small catalogs keep every term; in large ones a term in over max_df_fraction of
    # the items is noise (and the dense part of the product), as is one in over
    # TEXT_MAX_DF_ITEMS items of any catalog.
    max_df = min(max(int(max_df_fraction * n), 50), TEXT_MAX_DF_ITEMS)
    blocks = [
        (_tfidf([it.name for it in items], max_df), name_weight),
        (_tfidf([_words(it) for it in items], max_df), words_weight),
        (_tfidf([_attributes(it) for it in items], max_df, tokens=True), attribute_weight),
    ]
    parts = [m * w for m, w in blocks if m is not None and w > 0]
    if not parts:
        return sp.csr_matrix((n, 1), dtype=np.float64)
    out = sp.hstack(parts, format="csr", dtype=np.float64)
    norm = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
    norm[norm == 0] = 1.0
    return canonical(sp.diags(1.0 / norm) @ out)


class Cooccurrence:
    """Shrunk cosine between the columns of a (basket × item) matrix ``x``:

        s_ij = c_ij / (sqrt(n_i * n_j) + shrink),   c_ij = sum_b x_bi x_bj,  n_i = c_ii

    For a 0/1 matrix c_ij counts the baskets holding both items and n_i those holding
    i: plain cosine (so bestsellers do not neighbour everything) pulled towards zero
    when the evidence is a handful of baskets."""

    def __init__(self, x: sp.csr_matrix, shrink: float) -> None:
        # Canonical up front: blocks are computed on several threads, and scipy would
        # otherwise sort a shared matrix's indices in place on first use.
        self.x = canonical(x)
        self.xt = canonical(self.x.T)
        self.norm = np.sqrt(np.asarray(self.x.multiply(self.x).sum(axis=0)).ravel())
        self.shrink = shrink
        multi = (np.diff(self.x.indptr) >= 2).astype(np.float64)
        held = sp.csr_matrix((np.ones(self.xt.nnz), self.xt.indices, self.xt.indptr),
                             shape=self.xt.shape)
        #: How many baskets holding the item hold another item too.
        self.support: F64 = np.asarray(held @ multi).ravel()

    @property
    def empty(self) -> bool:
        return bool(self.x.nnz == 0)

    def rows(self, a: int, b: int, min_count: float = 0.0) -> sp.csr_matrix:
        """``s`` for items ``a..b-1`` against all items (the diagonal included), zero
        where ``c_ij < min_count``."""
        c = sp.csr_matrix(self.xt[a:b] @ self.x)
        r = np.repeat(np.arange(a, b), np.diff(c.indptr))
        rare = c.data < min_count
        c.data = c.data / (self.norm[r] * self.norm[c.indices] + self.shrink)
        c.data[rare] = 0.0
        return c


def canonical(m: sp.spmatrix) -> sp.csr_matrix:
    """``m`` as CSR with sorted, summed indices."""
    out = sp.csr_matrix(m)
    out.sum_duplicates()
    out.sort_indices()
    return out


def scale_rows(m: sp.csr_matrix, w: F64) -> sp.csr_matrix:
    """Multiply row ``r`` of ``m`` by ``w[r]``."""
    out = sp.csr_matrix(m, copy=True)
    out.data = out.data * np.repeat(w, np.diff(out.indptr))
    return out


def top_k(m: sp.csr_matrix, k: int, offset: int) -> tuple[IntArray, FloatArray]:
    """Each row's ``k`` largest positive entries, best first (ties: lower column first),
    leaving out the row's own item (column ``offset + row``); ``-1``/0 pad short rows.
    ``m`` must hold no duplicate entries (products and sums of CSR matrices don't)."""
    n_rows, n_cols = m.shape
    if m.nnz > n_rows * n_cols // 8:  # mostly non-zero: a dense pass is cheaper
        return top_k_dense(m.toarray(), k, offset)
    r = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(m.indptr))
    keep = (m.data > 0) & (m.indices != r + offset)
    return _top_entries(r[keep], m.indices[keep].astype(np.int64), m.data[keep], n_rows, k)


def top_k_dense(d: F64, k: int, offset: int) -> tuple[IntArray, FloatArray]:
    """:func:`top_k` for a dense block. Overwrites the diagonal of ``d``."""
    n_rows, n_cols = d.shape
    rows = np.arange(n_rows)
    inside = rows + offset < n_cols
    d[rows[inside], rows[inside] + offset] = 0.0
    # The k-th largest of every stride-th column is a floor that at least k entries of
    # the row reach: only those (about k * stride of them) are sorted.
    stride = max(1, n_cols // (80 * max(k, 1)))
    sample = d[:, ::stride]
    m = sample.shape[1]
    floor = np.partition(sample, m - k, axis=1)[:, m - k] if 0 < k < m else np.zeros(n_rows)
    r, c = np.nonzero((d >= floor[:, None]) & (d > 0))
    return _top_entries(r.astype(np.int64), c.astype(np.int64), d[r, c], n_rows, k)


def _top_entries(r: I64, c: I64, v: F64, n_rows: int, k: int) -> tuple[IntArray, FloatArray]:
    """Each row's ``k`` best entries (r, c, v), ties by lower column, padded."""
    idx = np.full((n_rows, k), -1, np.int32)
    score = np.zeros((n_rows, k), np.float32)
    if len(v) == 0 or k == 0:
        return idx, score
    order = np.lexsort((c, -v, r))
    r, c, v = r[order], c[order], v[order]
    rank = np.arange(len(r)) - np.searchsorted(r, r, side="left")
    sel = rank < k
    idx[r[sel], rank[sel]] = c[sel]
    score[r[sel], rank[sel]] = v[sel]
    return idx, score
