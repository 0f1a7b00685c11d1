"""Lazy walks over precomputed rankings, shared by the strategies."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from endcap.strategies.base import Candidates
from endcap.train.model import FloatArray, IntArray, Model

#: Candidates converted from numpy per step: the engine pulls 16-40 at a time.
CHUNK = 64


def walk(model: Model, order: IntArray, scores: FloatArray, *,
         positive_only: bool = False) -> Candidates:
    """(item_id, scores[i]) for i along ``order``, a chunk at a time; with
    ``positive_only``, stop at the first score that is not positive."""
    ids = model.item_ids
    for a in range(0, len(order), CHUNK):
        part = order[a:a + CHUNK]
        for i, s in zip(part.tolist(), scores[part].tolist(), strict=True):
            if positive_only and s <= 0:
                return
            yield ids[i], s


def pairs(model: Model, idx: npt.NDArray[np.integer], scores: npt.NDArray[np.floating]
          ) -> Candidates:
    """(item_id, score) for parallel arrays already sorted best first."""
    ids = model.item_ids
    for a in range(0, len(idx), CHUNK):
        for i, s in zip(idx[a:a + CHUNK].tolist(), scores[a:a + CHUNK].tolist(), strict=True):
            yield ids[i], s


#: Up to this many items, rows are summed into a dense array (one bincount); above it,
#: by sorting the few hundred neighbour entries, so a request never allocates per item.
DENSE_LIMIT = 200_000


def merge_rows(model: Model, rows: Sequence[int], weights: Sequence[float],
               table: tuple[IntArray, FloatArray], drop: Sequence[int] = ()) -> Candidates:
    """The union of the neighbour lists ``table`` holds for items ``rows``, each list
    scaled by its (positive) weight and the scores summed per item, best first (ties:
    lower index first), leaving out the ``rows`` items themselves and ``drop``.

    Costs O(len(rows) × K) numpy work (plus one dense bincount for catalogs up to
    :data:`DENSE_LIMIT` items); only the best :data:`CHUNK` are sorted up front."""
    nb_idx, nb_score = table
    if len(rows) == 1 and not drop:  # a row is already ranked and never holds its own item
        keep = nb_idx[rows[0]] >= 0
        yield from pairs(model, nb_idx[rows[0]][keep], nb_score[rows[0]][keep] * weights[0])
        return
    sel = np.asarray(rows, np.intp)
    gone = np.asarray([*rows, *drop], np.intp) if drop else sel
    idx = nb_idx[sel]
    score = nb_score[sel] * np.asarray(weights, np.float32)[:, None]
    valid = idx >= 0
    idx, score = idx[valid], score[valid]
    if idx.size == 0:
        return
    if len(model.item_ids) <= DENSE_LIMIT:
        acc = np.bincount(idx, weights=score).astype(np.float64, copy=False)
        acc[gone[gone < len(acc)]] = 0.0
        items = (acc > 0).nonzero()[0]
        total = acc[items]
    else:
        items, total = _sum_sorted(idx, score, gone)
    yield from _best_first(model, items, total)


def _sum_sorted(idx: IntArray, score: FloatArray, sel: npt.NDArray[np.intp]
                ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Per distinct item of ``idx`` (ascending) the sum of its scores, without ``sel``."""
    order = np.argsort(idx)
    idx, score = idx[order], score[order]
    first = np.empty(len(idx), bool)
    first[0] = True
    np.not_equal(idx[1:], idx[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    items = idx[starts].astype(np.intp)
    total = np.add.reduceat(score.astype(np.float64), starts)
    keep = ~np.isin(items, sel)
    return items[keep], total[keep]


def _best_first(model: Model, items: npt.NDArray[np.intp], total: npt.NDArray[np.float64]
                ) -> Candidates:
    """(item_id, total) by total descending, ties by lower item index (``items`` ascend);
    the first CHUNK are found by partition so that a full sort happens only if the
    consumer reads past them."""
    if len(items) > CHUNK:
        head = np.argpartition(-total, CHUNK - 1)[:CHUNK]
        head = head[np.lexsort((items[head], -total[head]))]
        yield from pairs(model, items[head], total[head])
        rest = np.ones(len(items), bool)
        rest[head] = False
        items, total = items[rest], total[rest]
    order = np.lexsort((items, -total))
    yield from pairs(model, items[order], total[order])
