"""Strategies around the request's seed items: alternatives and complements."""

from __future__ import annotations

from endcap.strategies.base import Candidates, Context
from endcap.strategies.ranked import merge_rows
from endcap.train.model import Model, Neighbours

#: Each further seed weighs this much less than the one before: the first seed (the
#: product on the page, the newest cart line) matters most.
SEED_DECAY = 0.85
#: Seeds past this many known ones are ignored (their weight would be under 5%).
MAX_SEEDS = 20


def _around_seeds(model: Model, seeds: list[str], table: Neighbours) -> Candidates:
    rows: list[int] = []
    for seed in seeds:
        i = model.index.get(seed)
        if i is not None and i not in rows:
            rows.append(i)
            if len(rows) == MAX_SEEDS:
                break
    if rows:
        weights = [SEED_DECAY ** k for k in range(len(rows))]
        yield from merge_rows(model, rows, weights, (table.idx, table.score))


def alternative_items(ctx: Context) -> Candidates:
    """Substitutes of the seeds: each known seed's similar items, the k-th known seed's
    scores weighted by ``SEED_DECAY ** k`` and summed per item; the seeds left out.
    Seeds the model does not know add nothing."""
    model = ctx.model
    if model is None:
        return
    if model.alternatives_text is not None:  # say which came from text similarity
        for seed in ctx.seeds[:MAX_SEEDS]:
            i = model.index.get(seed)
            if i is not None:
                idx, text = model.alternatives.idx[i], model.alternatives_text[i]
                ids = model.item_ids
                for j in idx[text & (idx >= 0)].tolist():
                    ctx.reasons.setdefault(ids[j], "similar_text")
                break  # the first known seed weighs most
    yield from _around_seeds(model, ctx.seeds, model.alternatives)


def complementary_items(ctx: Context) -> Candidates:
    """What is bought with the seeds (substitutes removed), merged as for alternatives."""
    if ctx.model is None:
        return
    yield from _around_seeds(ctx.model, ctx.seeds, ctx.model.complements)
