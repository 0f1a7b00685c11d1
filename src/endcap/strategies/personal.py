"""Strategies from the shopper's own history: recently viewed and for you."""

from __future__ import annotations

from itertools import islice

from endcap.strategies.base import Candidates, Context
from endcap.strategies.ranked import merge_rows
from endcap.strategies.semantic import COLD_ITEMS, CONTENT_CANDIDATES, content_for
from endcap.train.personal import KIND_WEIGHTS
from endcap.train.personal import WINDOW as FOR_YOU_ITEMS


def recently_viewed(ctx: Context) -> Candidates:
    """The shopper's viewed or clicked items, newest first, leaving out those bought since;
    the k-th scores 1 / (k + 1). Needs no model."""
    for rank, (item, _) in enumerate(ctx.history.viewed_newest_first()):
        yield item, 1.0 / (rank + 1)


def for_you(ctx: Context) -> Candidates:
    """Items related to what the shopper did lately.

    The latest ``FOR_YOU_ITEMS`` distinct items of the history that the model knows,
    newest first, weigh KIND_WEIGHTS[strongest kind among the entries back to the
    oldest of them] * model.for_you_decay ** position (the decay chosen on
    validation when the model was trained); their
    ``related`` lists are scaled by that and summed per item. Those items themselves
    are left out: the shopper knows them, and ``recently_viewed`` is there to show them
    again (older purchases are the engine's repurchase rule's business). Recency is by
    position, not clock time, so a returning shopper's last visit still counts fully.
    An empty history yields nothing.

    A cold shopper (fewer than ``COLD_ITEMS`` of those items have any related items,
    e.g. they only looked at new products) also gets the items most like theirs by
    text, when the tenant has embeddings: both lists are scaled to a best score of 1 and
    mixed with weight ``known / COLD_ITEMS`` for the collaborative one.
    """
    model = ctx.model
    rows: list[int] = []
    weights: list[float] = []
    drop: list[int] = []
    if model is not None:
        index = model.index
        weight: dict[int, float] = {}  # in first-seen (newest first) order
        for _, kind, item in reversed(ctx.history.events):
            i = index.get(item)
            w = KIND_WEIGHTS.get(kind)
            if i is None or w is None:
                continue
            if i in weight:
                if w > weight[i]:
                    weight[i] = w
            elif len(weight) < FOR_YOU_ITEMS:
                weight[i] = w
            else:  # the window is full: older entries no longer count
                break
        rows = list(weight)
        decay = model.for_you_decay
        weights = [w * decay ** k for k, w in enumerate(weight.values())]
        bought = ctx.history.purchased if ctx.exclude_bought else {}
        drop = [j for j in map(index.get, bought) if j is not None]
    collab: Candidates = iter(())
    if model is not None and rows:
        collab = merge_rows(model, rows, weights, (model.related.idx, model.related.score),
                            drop)
    known = 0 if model is None else int(
        (model.related.idx[rows, 0] >= 0).sum()) if rows else 0
    if ctx.embeddings is None or known >= COLD_ITEMS or not ctx.history.events:
        yield from collab
        return
    seen = {item for _, _, item in ctx.history.events}
    content = content_for(ctx, exclude=seen | set(ctx.history.purchased))
    head = list(islice(collab, CONTENT_CANDIDATES))
    share = known / COLD_ITEMS
    mixed: dict[str, list[float]] = {}
    for part, (source, w) in ((head, (0, share)), (content, (1, 1.0 - share))):
        top = part[0][1] if part and part[0][1] > 0 else 1.0
        for item, score in part:
            mixed.setdefault(item, [0.0, 0.0])[source] += w * score / top
    for item, (c, t) in mixed.items():
        if t > c:
            ctx.reasons[item] = "similar_text"
    yield from sorted(((i, c + t) for i, (c, t) in mixed.items()), key=lambda p: -p[1])
    yield from collab
