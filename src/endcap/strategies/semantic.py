"""Strategies over item embeddings: free-text search and the content-based side of
``for_you`` for shoppers the collaborative model barely knows."""

from __future__ import annotations

from itertools import islice

from endcap.semantic.content import profile
from endcap.strategies.base import Candidates, Context

#: A shopper with fewer distinct items the model can relate than this is "cold": their
#: ``for_you`` blends in items like what they viewed, by text.
COLD_ITEMS = 3
#: Content candidates considered for a cold shopper.
CONTENT_CANDIDATES = 100


def semantic_search(ctx: Context) -> Candidates:
    """Items nearest the request's free-text intent (``query=``), the constraints the
    text states already in ``ctx.filters``; filters narrow the vector search itself, so a
    filtered request is filled whenever enough items match."""
    if ctx.embeddings is None or ctx.query is None:
        return
    yield from ctx.embeddings.nearest(ctx.query, ctx.filters)


def content_for(ctx: Context, exclude: set[str]) -> list[tuple[str, float]]:
    """Up to CONTENT_CANDIDATES (item, cosine) most like the shopper's recent items."""
    emb = ctx.embeddings
    if emb is None:
        return []
    recent = [item for _, _, item in reversed(ctx.history.events)]
    vec = profile(emb, list(dict.fromkeys(recent))[:20])
    if vec is None:
        return []
    return list(islice(emb.nearest(vec, ctx.filters, exclude=exclude), CONTENT_CANDIDATES))
