"""Top-k ranking metrics over test users, each with a set of relevant items.

Under leave-last-out every test user has exactly one relevant item, and the metrics
reduce to their textbook single-item forms: NDCG@k = 1 / log2(rank + 1) for a hit at
``rank`` (1-based), HitRate@k = 1 for a hit, MRR@k = 1 / rank, Recall@k = HitRate@k.
With several relevant items (time-split): DCG over the hits divided by the ideal DCG of
min(|relevant|, k) hits; HitRate@k = any hit; Recall@k = hits / |relevant|; MRR@k =
1 / rank of the first hit. Every mean is over test users.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Metrics:
    users: int
    ndcg: float
    hit_rate: float
    recall: float
    mrr: float
    coverage: float
    #: Sum of the prices of hit test items over the sum of all test items' prices
    #: (NaN when no price is known).
    revenue_hit_rate: float
    k: int
    recall_k: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def evaluate(recs: I64, rec_users: I64, test_user: I64, test_item: I64, *,
             n_items: int, k: int = 10, recall_k: int = 20,
             test_price: F64 | None = None) -> Metrics:
    """Score the ranked lists ``recs`` (one row per user of ``rec_users``, best first,
    ``-1`` padding; at least ``max(k, recall_k)`` columns) against the test rows.

    A test user without a row in ``rec_users`` counts as all misses. Coverage@k is the
    share of the ``n_items`` catalog items in at least one top-k list."""
    depth = max(k, recall_k)
    if recs.ndim != 2 or (len(recs) and recs.shape[1] < depth):
        raise ValueError(f"recs must be users × at least {depth} items")
    users = np.unique(test_user)
    row_of = np.full(int(max(users.max(initial=-1), rec_users.max(initial=-1))) + 1, -1,
                     np.int64)
    row_of[rec_users] = np.arange(len(rec_users))
    # The rank (1-based) of each test row's item in its user's list; 0 when absent.
    rank = np.zeros(len(test_user), np.int64)
    r = row_of[test_user]
    has = r >= 0
    lists = recs[r[has], :depth]
    match = lists == test_item[has, None]
    found = match.any(axis=1)
    rank_has = np.where(found, match.argmax(axis=1) + 1, 0)
    rank[has] = rank_has

    u_pos = np.searchsorted(users, test_user)
    n_rel = np.bincount(u_pos, minlength=len(users)).astype(np.float64)
    hit_k = (rank > 0) & (rank <= k)
    hit_r = (rank > 0) & (rank <= recall_k)
    gain = np.where(hit_k, 1.0 / np.log2(np.maximum(rank, 1) + 1.0), 0.0)
    dcg = np.bincount(u_pos, weights=gain, minlength=len(users))
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(n_rel, k).astype(np.int64) - 1]
    hits_k = np.bincount(u_pos, weights=hit_k, minlength=len(users))
    hits_r = np.bincount(u_pos, weights=hit_r, minlength=len(users))
    first = np.full(len(users), np.inf)
    np.minimum.at(first, u_pos, np.where(hit_k, rank, np.inf))

    covered = np.unique(recs[:, :k][recs[:, :k] >= 0]) if len(recs) else np.zeros(0)
    revenue = float("nan")
    if test_price is not None and np.isfinite(test_price).any():
        known = np.isfinite(test_price)
        total = test_price[known].sum()
        if total > 0:
            revenue = float(test_price[known & hit_k].sum() / total)
    n = max(len(users), 1)
    return Metrics(
        users=len(users),
        ndcg=float((dcg / ideal).sum() / n) if len(users) else 0.0,
        hit_rate=float((hits_k > 0).sum() / n),
        recall=float((hits_r / n_rel).sum() / n) if len(users) else 0.0,
        mrr=float((1.0 / first).sum() / n),
        coverage=float(len(covered) / n_items) if n_items else 0.0,
        revenue_hit_rate=revenue,
        k=k,
        recall_k=recall_k,
    )
