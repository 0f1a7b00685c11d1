"""Non-personal strategies: bestsellers, trending, and the filters alone."""

from __future__ import annotations

import numpy as np

from endcap.strategies.base import Candidates, Context
from endcap.strategies.ranked import walk
from endcap.train.model import IntArray, Model

#: Items scanned per step when looking for never-sold items (filtered_items' tail).
TAIL_CHUNK = 4096


def _category_order(model: Model, ctx: Context) -> IntArray | None:
    """The request's category list, if it filters on a category the model knows."""
    cat = ctx.filters.category
    return None if not cat else model.category_order.get(cat.strip("/"))


def bestsellers(ctx: Context) -> Candidates:
    """Items by time-decayed, purchase-weighted popularity (only those with any),
    starting from the category's own list when the request filters on a category."""
    model = ctx.model
    if model is None:
        return
    order = _category_order(model, ctx)
    if order is None:
        order = model.bestseller_order
    yield from walk(model, order, model.bestsellers, positive_only=True)


def trending(ctx: Context) -> Candidates:
    """Items whose recent interest rose most above their baseline."""
    model = ctx.model
    if model is None:
        return
    yield from walk(model, model.trending_order, model.trending)


def filtered_items(ctx: Context) -> Candidates:
    """Every item, most popular first, then the never-sold ones in catalog order: the
    pod's filters alone decide what is shown. Within a known category, only its items."""
    model = ctx.model
    if model is None:
        return
    order = _category_order(model, ctx)
    if order is not None:
        yield from walk(model, order, model.bestsellers)
        return
    yield from walk(model, model.bestseller_order, model.bestsellers)
    # Reached only when the engine wants more than every item ever sold.
    scores = model.bestsellers
    for a in range(0, len(scores), TAIL_CHUNK):
        unsold = (np.flatnonzero(scores[a:a + TAIL_CHUNK] <= 0) + a).astype(np.int32)
        yield from walk(model, unsold, scores)
