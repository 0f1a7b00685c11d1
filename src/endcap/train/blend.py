"""Content-based alternatives from item embeddings, blended with the collaborative ones.

An item with few interactions has noisy or no co-view neighbours; its nearest items by
meaning are a better guess. Each item's list mixes the two, the collaborative side
weighing ``n / (n + shrink)`` for an item with ``n`` interactions; ``shrink`` is
chosen on a leave-last-out validation split of the shop's own log (the item a
shopper went to after their previous one), not set by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from endcap.catalog.model import Item
from endcap.semantic.ann import EXACT_ITEMS
from endcap.semantic.artifact import ItemEmbeddings
from endcap.train.interactions import Interactions
from endcap.train.model import Neighbours
from endcap.train.tune import holdout

#: The shrink values tried; 0 trusts any interaction fully, inf uses text alone.
SHRINKS = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, float("inf"))
#: Used when the log has too few validation shoppers to choose.
DEFAULT_SHRINK = 10.0
MIN_VALIDATION = 50
#: Content neighbours are found by exact blocks of this many rows (below the ANN
#: index's exact limit) or by the index itself.
BLOCK = 1024


@dataclass(frozen=True, slots=True)
class BlendChoice:
    shrink: float
    #: HitRate@10 of each tried shrink on the validation pairs.
    trials: dict[str, float]
    pairs: int


def content_table(emb: ItemEmbeddings, item_ids: Sequence[str], k: int) -> Neighbours:
    """Each item's ``k`` nearest other items by cosine (model indices; -1 pads)."""
    n = len(item_ids)
    out = Neighbours.empty(n, k)
    erow = np.asarray([emb.row.get(i, -1) for i in item_ids], np.int64)
    have = np.flatnonzero(erow >= 0)
    if len(have) < 2:
        return out
    vecs = emb.index.vectors(erow[have])
    depth = min(k + 1, len(have))
    model_of = np.full(len(emb.item_ids), -1, np.int64)  # embedding row -> model index
    model_of[erow[have]] = have
    for a in range(0, len(have), BLOCK):
        rows = have[a:a + BLOCK]
        if len(have) > EXACT_ITEMS:  # the ANN index, then its rows mapped to ours
            er, ts = emb.index.search_many(vecs[a:a + BLOCK], depth)
            top = np.where(er >= 0, model_of[np.maximum(er, 0)], -1)
            top = np.where(top == rows[:, None], -1, top)
            ts = np.where(top >= 0, ts, -np.inf)
        else:
            sims = vecs[a:a + BLOCK] @ vecs.T
            sims[np.arange(len(rows)), a + np.arange(len(rows))] = -np.inf  # not itself
            part = np.argpartition(-sims, depth - 1, axis=1)[:, :depth]
            ts = np.take_along_axis(sims, part, axis=1)
            top = have[part]
        order = np.argsort(-ts, axis=1, kind="stable")[:, :k]
        top, ts = np.take_along_axis(top, order, 1), np.take_along_axis(ts, order, 1)
        valid = np.isfinite(ts) & (ts > 0) & (top >= 0)
        w = top.shape[1]
        out.idx[rows, :w] = np.where(valid, top, -1)
        out.score[rows, :w] = np.where(valid, ts, 0.0)
    return out


def blend(collab: Neighbours, content: Neighbours, counts: npt.NDArray[np.int64],
          shrink: float, k: int) -> tuple[Neighbours, npt.NDArray[np.bool_]]:
    """Per item, the top ``k`` of ``w * collab + (1 - w) * content`` (each row scaled
    to a best score of 1), ``w = n / (n + shrink)``; and per entry whether the text
    side gave more of its score (its reason is then ``similar_text``)."""
    n = collab.idx.shape[0]
    if np.isinf(shrink):
        w = np.zeros(n)
    elif shrink == 0:
        w = (counts > 0).astype(np.float64)
    else:
        w = counts / (counts + shrink)
    out = Neighbours.empty(n, k)
    text = np.zeros((n, k), bool)
    for i in range(n):
        scores: dict[int, list[float]] = {}
        for table, side, weight in ((collab, 0, w[i]), (content, 1, 1.0 - w[i])):
            if weight <= 0:
                continue
            idx, sc = table.row(i)
            if len(idx) == 0:
                continue
            top = float(sc[0]) or 1.0
            for j, s in zip(idx.tolist(), sc.tolist(), strict=True):
                scores.setdefault(j, [0.0, 0.0])[side] += weight * s / top
        if not scores:
            continue
        best = sorted(scores.items(), key=lambda p: (-(p[1][0] + p[1][1]), p[0]))[:k]
        m = len(best)
        out.idx[i, :m] = [j for j, _ in best]
        out.score[i, :m] = [c + t for _, (c, t) in best]
        text[i, :m] = [t > c for _, (c, t) in best]
    return out, text


def choose_shrink(items: Sequence[Item], rows: Interactions, content: Neighbours,
                  fit_collab: Callable[[Interactions], Neighbours], k: int
                  ) -> BlendChoice:
    """The shrink whose blend best predicts, from a validation shopper's previous item,
    the next one (HitRate@10), with the collaborative table refitted without those
    next items so that it cannot have seen them."""
    n = len(items)
    h = holdout(rows, min_items=2)
    if len(h.shoppers) < MIN_VALIDATION:
        return BlendChoice(DEFAULT_SHRINK, {}, len(h.shoppers))
    train = rows.select(h.fit)
    # Each validation shopper's newest item in the fit part is the seed.
    order = np.lexsort((train.time, train.shopper))
    last = np.r_[train.shopper[order][1:] != train.shopper[order][:-1], True]
    seed_of = dict(zip(train.shopper[order][last].tolist(), train.item[order][last].tolist(),
                       strict=True))
    pairs = [(seed_of[s], t) for s, t in zip(h.shoppers.tolist(), h.targets.tolist(),
                                             strict=True) if s in seed_of and seed_of[s] != t]
    if len(pairs) < MIN_VALIDATION:
        return BlendChoice(DEFAULT_SHRINK, {}, len(pairs))
    collab = fit_collab(train)
    counts = np.bincount(train.item, minlength=n).astype(np.int64)
    seeds = sorted({s for s, _ in pairs})
    sub = np.asarray(seeds, np.int64)
    local = {s: r for r, s in enumerate(seeds)}
    trials: dict[str, float] = {}
    best, best_hr = DEFAULT_SHRINK, -1.0
    for shrink in SHRINKS:
        table, _ = blend(Neighbours(collab.idx[sub], collab.score[sub]),
                         Neighbours(content.idx[sub], content.score[sub]),
                         counts[sub], shrink, k)
        hits = sum(t in table.idx[local[s], :10] for s, t in pairs)
        hr = hits / len(pairs)
        trials[str(shrink)] = round(hr, 5)
        if hr > best_hr:
            best, best_hr = shrink, hr
    return BlendChoice(best, trials, len(pairs))
