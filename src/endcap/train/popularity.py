"""Popularity tables: bestsellers, their per-category orders, and trending."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from endcap.catalog.model import Item
from endcap.train.interactions import PURCHASE, Interactions
from endcap.train.model import FloatArray, IntArray
from endcap.train.similarity import category_prefixes

F64 = npt.NDArray[np.float64]
DAY = 86_400.0


def bestseller_scores(rows: Interactions, n_items: int, *, kind_weights: Sequence[float],
                      half_life_days: float, reference_time: float) -> F64:
    """score_i = sum over rows r of item i of

        kind_weights[kind_r] * (1 + ln(quantity_r) if a purchase else 1)
                             * 2 ** (-(reference_time - time_r) / half_life)

    A purchase line of q units counts 1 + ln q (1 unit: 1, 12: 3.5, 1,000: 7.9), so a
    wholesale order cannot outweigh a few hundred ordinary ones."""
    w = np.asarray(kind_weights, np.float64)[rows.kind]
    bought = rows.kind == PURCHASE
    w[bought] *= 1.0 + np.log(np.maximum(rows.quantity[bought], 1.0))
    w *= np.exp2(-(reference_time - rows.time) / (half_life_days * DAY))
    return np.bincount(rows.item, weights=w, minlength=n_items).astype(np.float64)


def order_by(score: F64) -> IntArray:
    """Indices of the positive scores, best first, ties by lower index."""
    pos = np.flatnonzero(score > 0)
    return pos[np.argsort(-score[pos], kind="stable")].astype(np.int32)


def category_orders(items: Sequence[Item], score: F64) -> dict[str, IntArray]:
    """For each category path prefix of the catalog, its items ordered by ``score``
    (zero scores after the rest, by index), each item once."""
    n = len(items)
    rank = np.empty(n, np.int64)
    ranked = np.argsort(-score, kind="stable")
    rank[ranked] = np.arange(n)
    codes: dict[str, int] = {}
    pair_cat: list[int] = []
    pair_item: list[int] = []
    for i, item in enumerate(items):
        prefixes = {p for c in item.categories for p in category_prefixes(c)}
        for p in prefixes:
            pair_cat.append(codes.setdefault(p, len(codes)))
            pair_item.append(i)
    if not codes:
        return {}
    cat = np.array(pair_cat, np.int64)
    item_ix = np.array(pair_item, np.int64)
    order = np.lexsort((rank[item_ix], cat))
    cat, item_ix = cat[order], item_ix[order]
    bounds = np.searchsorted(cat, np.arange(len(codes) + 1))
    return {name: item_ix[bounds[c]:bounds[c + 1]].astype(np.int32)
            for name, c in codes.items()}


def trending_scores(rows: Interactions, n_items: int, *, reference_time: float,
                    recent_days: float, baseline_days: float, prior: float,
                    min_recent: int) -> tuple[FloatArray, IntArray]:
    """Recent interest against the item's own baseline.

    r_i = distinct shoppers who touched item i in the last ``recent_days``; b_i = those in
    the ``baseline_days`` before that (fewer when the log is younger: B = the span
    actually covered). With R = recent_days and the prior of ``prior`` shoppers per R:

        trending_i = (r_i + prior) / (b_i * R / B + prior)

    i.e. the recent rate over the baseline rate, each smoothed towards the same prior,
    so that 3 shoppers against 0 is no spike. The order keeps items with
    ``r_i >= min_recent`` and a score above 1 (really rising). Empty when the log holds
    less than a day before the recent window (no baseline to rise from)."""
    t_recent = reference_time - recent_days * DAY
    if len(rows) == 0:
        return np.zeros(n_items, np.float32), np.zeros(0, np.int32)
    span = min(baseline_days * DAY, t_recent - float(rows.time.min()))
    if span < DAY:
        return np.zeros(n_items, np.float32), np.zeros(0, np.int32)
    t_base = t_recent - span
    recent = (rows.time > t_recent) & (rows.time <= reference_time)
    base = (rows.time >= t_base) & (rows.time <= t_recent)
    r = _distinct_shoppers(rows, recent, n_items)
    b = _distinct_shoppers(rows, base, n_items)
    score = (r + prior) / (b * (recent_days * DAY / span) + prior)
    eligible = np.where((r >= min_recent) & (score > 1.0), score, 0.0)
    return score.astype(np.float32), order_by(eligible)


def _distinct_shoppers(rows: Interactions, mask: npt.NDArray[np.bool_], n_items: int) -> F64:
    items, shoppers = rows.item[mask], rows.shopper[mask]
    if len(items) == 0:
        return np.zeros(n_items)
    pairs = np.unique(items * (int(shoppers.max()) + 1) + shoppers)
    return np.bincount(pairs // (int(shoppers.max()) + 1), minlength=n_items).astype(np.float64)
