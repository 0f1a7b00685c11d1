"""Choose ``for_you``'s hyperparameters on a validation split carved from the log.

The split is leave-last-out, as in ``endcap evaluate``: every shopper with at least
three distinct items gives the last new one to validation, and their events from that
one on are left out of the fit. Each candidate (λ, α, decay) is fitted on the rest and
scored by NDCG@10 of exactly what ``for_you`` would serve; the best wins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from endcap.quality.metrics import evaluate
from endcap.quality.run import top_excluding
from endcap.train.interactions import Interactions
from endcap.train.linear import ease, sequences, transitions
from endcap.train.model import Neighbours
from endcap.train.personal import history_weights
from endcap.train.similarity import _top_entries, top_k_dense

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ForYouParams:
    #: EASE's L2 penalty.
    lam: float = 100.0
    #: Weight of the transition table beside EASE.
    alpha: float = 0.5
    #: Each older distinct item of the history weighs this much less than the next.
    decay: float = 0.7


@dataclass(frozen=True, slots=True)
class Trial:
    params: ForYouParams
    ndcg: float
    hit_rate: float

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self.params), "ndcg": self.ndcg, "hit_rate": self.hit_rate}


#: The candidates tried. λ is relative to the mean number of shoppers per head item
#: (the diagonal of XᵀX), so the grid fits shops of every size.
LAMBDA_SCALES = (0.5, 2.0, 8.0)
ALPHAS = (0.0, 0.5, 1.0, 2.0)
DECAYS = (0.3, 0.5, 0.7, 0.9)


def binary(shopper: I64, item: I64, n_shoppers: int, n_items: int) -> sp.csr_matrix:
    """The 0/1 shoppers × items matrix of who touched what."""
    x = sp.csr_matrix((np.ones(len(item), np.float32), (shopper, item)),
                      shape=(n_shoppers, n_items))
    x.data[:] = 1.0
    return x


def head_items(x: sp.csr_matrix, max_items: int) -> I64:
    """The (at most ``max_items``) items with most shoppers, ascending by index."""
    count = np.asarray((x > 0).sum(axis=0)).ravel()
    active = np.flatnonzero(count > 0)
    if len(active) > max_items:
        active = np.sort(active[np.argsort(-count[active], kind="stable")[:max_items]])
    return active.astype(np.int64)


def for_you_table(b: npt.NDArray[np.float32], head: I64, trans: sp.csr_matrix, alpha: float,
                  k: int, fallback: Neighbours | None = None) -> Neighbours:
    """Each item's top ``k`` of (its EASE row, or ``fallback``'s outside the head)
    + alpha * its transition row; positive scores only, never the item itself."""
    return combine(linear_rows(b, head, trans.shape[0], k, fallback), trans, alpha, k)


def linear_rows(b: npt.NDArray[np.float32], head: I64, n: int, k: int,
                fallback: Neighbours | None = None) -> sp.csr_matrix:
    """The EASE rows cut to their best 2k entries, as an n × n sparse matrix in item
    indices; rows outside the head from ``fallback``."""
    step = max(1, (1 << 22) // max(len(head), 1))
    parts_r: list[I64] = []
    parts_c: list[I64] = []
    parts_v: list[F64] = []
    for a in range(0, len(head), step):
        idx, score = top_k_dense(np.array(b[a:a + step], np.float64), 2 * k, a)
        r, c = np.nonzero(idx >= 0)
        parts_r.append(head[a + r])
        parts_c.append(head[idx[r, c]])
        parts_v.append(score[r, c].astype(np.float64))
    if fallback is not None:
        outside = np.ones(n, bool)
        outside[head] = False
        r, c = np.nonzero((fallback.idx >= 0) & outside[:, None])
        parts_r.append(r.astype(np.int64))
        parts_c.append(fallback.idx[r, c].astype(np.int64))
        parts_v.append(fallback.score[r, c].astype(np.float64))
    if not parts_v:
        return sp.csr_matrix((n, n), dtype=np.float64)
    return sp.csr_matrix((np.concatenate(parts_v),
                          (np.concatenate(parts_r), np.concatenate(parts_c))), shape=(n, n))


def combine(base: sp.csr_matrix, trans: sp.csr_matrix, alpha: float, k: int) -> Neighbours:
    """Each row's top ``k`` of ``base + alpha * trans`` (positive, not the diagonal)."""
    n = base.shape[0]
    m = sp.csr_matrix(base + alpha * trans.astype(np.float64)) if alpha else base.tocsr()
    m.sum_duplicates()
    r = np.repeat(np.arange(n, dtype=np.int64), np.diff(m.indptr))
    c = m.indices.astype(np.int64)
    keep = (m.data > 0) & (c != r)
    idx, score = _top_entries(r[keep], c[keep], m.data[keep], n, k)
    return Neighbours(idx, score)


def table_matrix(nb: Neighbours) -> sp.csr_matrix:
    """A neighbour table as a sparse items × items matrix."""
    n = len(nb.idx)
    r, c = np.nonzero(nb.idx >= 0)
    return sp.csr_matrix((nb.score[r, c].astype(np.float64), (r, nb.idx[r, c])), shape=(n, n))


#: Up to this many items, :func:`recommend` scores users in dense blocks.
DENSE_ITEMS = 50_000


def recommend(table: sp.csr_matrix, weights: sp.csr_matrix, seen: sp.csr_matrix,
              depth: int) -> I64:
    """``for_you``'s top ``depth`` for each row of ``weights`` (history weights), best
    first, ties by lower item index, never an item of ``seen``; only positive scores
    are listed (-1 pads). Sparse throughout: the cost follows the histories and K,
    not the catalog size."""
    n_rows, n = weights.shape[0], table.shape[1]
    out = []
    if n <= DENSE_ITEMS:
        # A dense block and a partition per row beat sorting every candidate.
        step = max(1, (1 << 24) // max(n, 1))
        for a in range(0, n_rows, step):
            scores = np.asarray((weights[a:a + step] @ table).toarray())
            scores[scores <= 0] = -np.inf
            out.append(top_excluding(scores, seen[a:a + step].tocsr(), depth))
        return np.vstack(out) if out else np.zeros((0, depth), np.int64)
    step = 4096
    for a in range(0, n_rows, step):
        sc = sp.csr_matrix(weights[a:a + step] @ table)
        sc.sum_duplicates()
        r = np.repeat(np.arange(sc.shape[0], dtype=np.int64), np.diff(sc.indptr))
        c = sc.indices.astype(np.int64)
        sn = seen[a:a + step].tocsr()
        seen_keys = np.repeat(np.arange(sn.shape[0], dtype=np.int64), np.diff(sn.indptr)) * n \
            + sn.indices
        keep = (sc.data > 0) & ~np.isin(r * n + c, seen_keys)
        idx, _ = _top_entries(r[keep], c[keep], sc.data[keep], sc.shape[0], depth)
        out.append(idx.astype(np.int64))
    return np.vstack(out) if out else np.zeros((0, depth), np.int64)


@dataclass(frozen=True, slots=True)
class Holdout:
    #: Rows (of the log) the validation fit may use.
    fit: npt.NDArray[np.bool_]
    #: The validation shoppers and the item each must be recommended.
    shoppers: I64
    targets: I64


def holdout(rows: Interactions, *, min_items: int = 3, max_shoppers: int = 10_000,
            seed: int = 0) -> Holdout:
    """Leave-last-out over the shoppers' distinct items, by time then log order."""
    n = len(rows)
    order = np.lexsort((np.arange(n), rows.time, rows.shopper))
    s, i = rows.shopper[order], rows.item[order]
    key = s * (int(i.max(initial=0)) + 1) + i
    _, first = np.unique(key, return_index=True)
    first = np.sort(first)  # first occurrences, grouped by shopper, in time order
    fs = s[first]
    count = np.bincount(fs)
    last = np.r_[fs[1:] != fs[:-1], True]
    chosen = first[last & (count[fs] >= min_items)]
    if len(chosen) > max_shoppers:
        chosen = np.sort(np.random.default_rng(seed).choice(chosen, max_shoppers,
                                                            replace=False))
    # The chosen shoppers' rows from their target's first event on leave the fit.
    start = np.full(int(s.max(initial=-1)) + 1, n, np.int64)
    start[s[chosen]] = chosen
    pos = np.arange(n)
    fit_sorted = pos < start[s]
    fit = np.empty(n, bool)
    fit[order] = fit_sorted
    return Holdout(fit=fit, shoppers=s[chosen].astype(np.int64),
                   targets=i[chosen].astype(np.int64))


def tune(rows: Interactions, n_items: int, *, k: int, max_items: int,
         progress: Callable[[str], None] | None = None,
         lambda_scales: Sequence[float] = LAMBDA_SCALES, alphas: Sequence[float] = ALPHAS,
         decays: Sequence[float] = DECAYS) -> tuple[ForYouParams, list[Trial]]:
    """The best :class:`ForYouParams` on a validation split of ``rows``, and every trial."""
    hold = holdout(rows)
    if len(hold.shoppers) == 0:
        return ForYouParams(), []
    inner = rows.select(hold.fit)
    n_shoppers = int(rows.shopper.max()) + 1
    x = binary(inner.shopper, inner.item, n_shoppers, n_items)
    head = head_items(x, max_items)
    seq_s, seq_i = sequences(inner.shopper, inner.item, inner.time)
    trans = transitions(seq_s, seq_i, n_items)
    # Validation shoppers renumbered 0..V-1, with their fit rows.
    v_of = np.full(n_shoppers, -1, np.int64)
    v_of[hold.shoppers] = np.arange(len(hold.shoppers))
    mine = v_of[inner.shopper] >= 0
    vs, vi = v_of[inner.shopper[mine]], inner.item[mine]
    seen = binary(vs, vi, len(hold.shoppers), n_items)
    users = np.arange(len(hold.shoppers), dtype=np.int64)
    diag = float(np.asarray(x[:, head].sum(axis=0)).mean()) if len(head) else 1.0
    weights = {d: history_weights(vs, vi, inner.kind[mine], inner.time[mine],
                                  len(hold.shoppers), n_items, decay=d) for d in decays}
    trials: list[Trial] = []

    def trial(lam: float, alpha: float, decay: float, table: sp.csr_matrix) -> None:
        recs = recommend(table, weights[decay], seen, 10)
        m = evaluate(np.hstack([recs, np.full((len(recs), 10), -1)]), users, users,
                     hold.targets, n_items=n_items, k=10, recall_k=20)
        trials.append(Trial(ForYouParams(lam, alpha, decay), m.ndcg, m.hit_rate))
        if progress:
            progress(f"λ={lam:g} α={alpha:g} decay={decay:g}: NDCG@10 {m.ndcg:.4f}")

    # Two stages: λ with the middle decay and no transitions, then every (α, decay) at
    # the best λ. Each λ costs an EASE fit; each trial only a scoring pass.
    bases: dict[float, sp.csr_matrix] = {}
    mid = decays[len(decays) // 2]
    for scale in lambda_scales:
        lam = round(scale * diag, 3)
        bases[lam] = linear_rows(ease(x, lam, head), head, n_items, k)
        trial(lam, 0.0, mid, table_matrix(combine(bases[lam], trans, 0.0, k)))
    lam = max(trials, key=lambda t: t.ndcg).params.lam
    for alpha in alphas:
        table = table_matrix(combine(bases[lam], trans, alpha, k))
        for decay in decays:
            if (alpha, decay) != (0.0, mid):
                trial(lam, alpha, decay, table)
    best = max(trials, key=lambda t: t.ndcg)
    return best.params, trials
