"""Run recommenders on a split: fit on train, rank for the test users, score.

A recommender is anything with ``name``, ``fit(split)`` and ``recommend(users, depth)``
returning a users × depth array of item codes (best first, ``-1`` padding) that never
holds an item the user had in train; :func:`top_excluding` does that for dense scores.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from endcap.quality.metrics import Metrics, evaluate
from endcap.quality.split import Split

I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]

#: Users scored per dense block (users × items floats).
BLOCK_CELLS = 1 << 24


class Recommender(Protocol):
    name: str

    def fit(self, split: Split) -> None: ...

    def recommend(self, users: I64, depth: int) -> I64: ...


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    metrics: Metrics
    fit_seconds: float
    recommend_seconds: float
    params: dict[str, object]


def top_excluding(scores: npt.NDArray[np.floating], seen: sp.csr_matrix, depth: int
                  ) -> I64:
    """Each row's ``depth`` best columns by score, best first (ties: lower column),
    leaving out the row's ``seen`` columns and any score that is not finite; ``-1``
    pads rows with fewer. Overwrites ``scores``."""
    n, m = scores.shape
    r = np.repeat(np.arange(n), np.diff(seen.indptr))
    scores[r, seen.indices] = -np.inf
    scores[~np.isfinite(scores)] = -np.inf
    d = min(depth, m)
    if d < m:
        # Everything at or above the d-th best value; where more tie with it than fit,
        # the lowest columns among the tied (argpartition alone picks arbitrarily).
        kth = np.partition(scores, m - d, axis=1)[:, m - d:m - d + 1]
        pick = scores >= kth
        tied = np.flatnonzero(pick.sum(axis=1) > d)
        if len(tied):
            sub, sub_kth = scores[tied], kth[tied]
            above = sub > sub_kth
            eq = sub == sub_kth
            need = d - above.sum(axis=1, keepdims=True)
            pick[tied] = above | (eq & (np.cumsum(eq, axis=1) <= need))
        part = np.nonzero(pick)[1].reshape(n, d)
    else:
        part = np.tile(np.arange(m), (n, 1))
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    top = np.take_along_axis(part, order, axis=1).astype(np.int64)
    top[~np.isfinite(np.take_along_axis(vals, order, axis=1))] = -1
    if d < depth:
        top = np.hstack([top, np.full((n, depth - d), -1, np.int64)])
    return top


def in_blocks(users: I64, n_items: int) -> Iterable[I64]:
    """``users`` in blocks small enough for a dense users × items score block."""
    step = max(1, BLOCK_CELLS // max(n_items, 1))
    for a in range(0, len(users), step):
        yield users[a:a + step]


def check_lists(recs: I64, users: I64, seen: sp.csr_matrix) -> None:
    """Refuse lists that repeat an item or hold one the user had in train."""
    for row, u in zip(recs, users.tolist(), strict=True):
        got = row[row >= 0]
        if len(np.unique(got)) != len(got):
            raise AssertionError(f"user {u}: a list repeats an item")
        if np.isin(got, seen.indices[seen.indptr[u]:seen.indptr[u + 1]]).any():
            raise AssertionError(f"user {u}: a list holds an item from train")


def run(rec: Recommender, split: Split, *, k: int = 10, recall_k: int = 20,
        check: bool = True) -> Result:
    """Fit ``rec`` on ``split.train`` and score its lists for ``split``'s test users."""
    t0 = time.perf_counter()
    rec.fit(split)
    t1 = time.perf_counter()
    users = split.test_users
    recs = rec.recommend(users, max(k, recall_k))
    t2 = time.perf_counter()
    if check:
        check_lists(recs, users, split.seen())
    m = evaluate(recs, users, split.test_user, split.test_item, n_items=split.n_items,
                 k=k, recall_k=recall_k, test_price=split.test_price)
    params = dict(getattr(rec, "params", {}) or {})
    return Result(rec.name, m, t1 - t0, t2 - t1, params)
