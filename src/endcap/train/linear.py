"""The models behind ``for_you``: an item-to-item linear model and sequence transitions.

- EASE (Steck, WWW 2019): B = argmin ||X - XB||² + λ||B||² with diag(B) = 0 has the
  closed form B = I - P / diag(P), P = (XᵀX + λI)⁻¹, on the binary shoppers × items
  matrix X. Its Gram matrix is items × items, so it is fitted on the ``max_items``
  items with most shoppers (the *head*) and never on the whole of a large catalog:
  memory is max_items², whatever the catalog size.
- Transitions: T[i, j] counts how often j followed i within ``max_gap`` steps of a
  shopper's sequence of distinct items (the g-th step weighing gap_decay^(g-1)), each
  row divided by (its total + shrink). It is what the next click looks like in session
  data, which a bag-of-items model cannot see.

Both are cut to each item's top K before they are served, like every neighbour table.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.linalg import lapack

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def ease(x: sp.csr_matrix, lam: float, head: I64) -> F32:
    """The EASE weights among the ``head`` items (a len(head)² float32 matrix, rows and
    columns in ``head`` order) from the 0/1 shoppers × items matrix ``x``."""
    xh = sp.csr_matrix(x[:, head], dtype=np.float32)
    g = np.asarray((xh.T @ xh).toarray(), dtype=np.float32)
    return ease_from_gram(g, lam)


def ease_from_gram(g: F32, lam: float) -> F32:
    """:func:`ease` from the Gram matrix XᵀX (overwritten). Inverts by Cholesky in
    float32: half the time and memory of a general float64 inverse."""
    m = len(g)
    if m == 0:
        return np.zeros((0, 0), np.float32)
    g[np.diag_indices(m)] += np.float32(lam)
    c, info = lapack.spotrf(g, lower=0, overwrite_a=1, clean=0)
    if info != 0:
        raise np.linalg.LinAlgError(f"Gram matrix not positive definite (info {info})")
    p, info = lapack.spotri(c, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"inversion failed (info {info})")
    out: F32 = np.triu(p) + np.triu(p, 1).T  # spotri fills the upper triangle only
    d = np.diag(out).copy()
    out /= -d[None, :]
    out[np.diag_indices(m)] = 0.0
    return out


def sequences(shopper: I64, item: I64, time: npt.NDArray[np.float64]) -> tuple[I64, I64]:
    """Each shopper's items in time order (ties in row order), consecutive repeats of
    the same item collapsed: (shopper, item) of the sequence steps, grouped by shopper."""
    order = np.lexsort((np.arange(len(item)), time, shopper))
    s, i = shopper[order], item[order]
    keep = np.ones(len(s), bool)
    keep[1:] = (s[1:] != s[:-1]) | (i[1:] != i[:-1])
    return s[keep], i[keep]


def transitions(shopper: I64, item: I64, n_items: int, *, max_gap: int = 3,
                gap_decay: float = 0.5, shrink: float = 5.0) -> sp.csr_matrix:
    """T (items × items, float32, CSR) from the sequences of :func:`sequences`."""
    rows: list[I64] = []
    cols: list[I64] = []
    vals: list[npt.NDArray[np.float32]] = []
    for g in range(1, max_gap + 1):
        same = shopper[g:] == shopper[:-g]
        pair = same & (item[g:] != item[:-g])
        rows.append(item[:-g][pair])
        cols.append(item[g:][pair])
        vals.append(np.full(int(pair.sum()), gap_decay ** (g - 1), np.float32))
    t = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n_items, n_items), dtype=np.float32)
    t.sum_duplicates()
    total = np.asarray(t.sum(axis=1), np.float32).ravel()
    t.data /= np.repeat(total + np.float32(shrink), np.diff(t.indptr))
    return t
