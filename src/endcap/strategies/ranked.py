"""Lazy walks over precomputed rankings, shared by the strategies."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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


def pairs(model: Model, idx: IntArray, scores: FloatArray) -> Candidates:
    """(item_id, score) for parallel arrays already sorted best first."""
    ids = model.item_ids
    for a in range(0, len(idx), CHUNK):
        for i, s in zip(idx[a:a + CHUNK].tolist(), scores[a:a + CHUNK].tolist(), strict=True):
            yield ids[i], s


def merge_rows(model: Model, rows: Sequence[int], weights: Sequence[float],
               table: tuple[IntArray, FloatArray]) -> Candidates:
    """The union of the neighbour lists ``table`` holds for items ``rows``, each list
    scaled by its (positive) weight and the scores summed per item, best first (ties:
    lower index first), leaving out the ``rows`` items themselves.

    Costs O(len(rows) × K) whatever the catalog size."""
    nb_idx, nb_score = table
    if len(rows) == 1:  # a row is already ranked and never holds its own item
        keep = nb_idx[rows[0]] >= 0
        yield from pairs(model, nb_idx[rows[0]][keep], nb_score[rows[0]][keep] * weights[0])
        return
    sel = np.asarray(rows, np.int32)
    idx = nb_idx[sel].ravel()
    if idx.size == 0:
        return
    score = (nb_score[sel] * np.asarray(weights, np.float32)[:, None]).ravel()
    order = np.argsort(idx)
    idx, score = idx[order], score[order]
    first = np.empty(len(idx), bool)
    first[0] = True
    np.not_equal(idx[1:], idx[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    items, total = idx[starts], np.add.reduceat(score, starts)
    keep = items >= 0  # padding sorts first
    at = np.minimum(np.searchsorted(items, sel), len(items) - 1)
    keep[at[items[at] == sel]] = False
    items, total = items[keep], total[keep]
    # items ascend, so a stable sort breaks score ties by lower index
    best = np.argsort(-total, kind="stable")
    yield from pairs(model, items[best], total[best])
