"""Reason codes: a short, stable word per result saying why it is there.

Each strategy has its usual reason; a strategy that mixes sources records the others
per item in ``Context.reasons`` (``for_you`` marks what it took from text similarity).
"""

from __future__ import annotations

from endcap.strategies.base import Context

#: Every code a result can carry, for the API docs and dashboards.
REASONS: dict[str, str] = {
    "pinned": "pinned by the pod's rules",
    "bestseller": "sells best in the shop",
    "bestseller_in_category": "sells best in the requested category",
    "trending": "selling faster than usual",
    "trending_in_category": "selling faster than usual in the requested category",
    "recently_viewed": "the shopper viewed it",
    "viewed_together": "shoppers who viewed the seed item viewed it too",
    "bought_together": "bought with the seed items",
    "related_to_history": "shoppers with a similar history went on to it",
    "similar_text": "its description is like the items the shopper or the page has",
    "matches_query": "nearest to the free-text query",
    "matches_filters": "meets the pod's filters",
}

_USUAL = {
    "pinned": "pinned",
    "bestsellers": "bestseller",
    "trending": "trending",
    "recently_viewed": "recently_viewed",
    "alternative_items": "viewed_together",
    "complementary_items": "bought_together",
    "for_you": "related_to_history",
    "semantic_search": "matches_query",
    "filtered_items": "matches_filters",
}


def reason(strategy: str, item_id: str, ctx: Context) -> str:
    """Why ``item_id``, proposed by ``strategy``, is in the results."""
    noted = ctx.reasons.get(item_id)
    if noted is not None:
        return noted
    code = _USUAL.get(strategy, strategy)
    if ctx.filters.category and code in ("bestseller", "trending"):
        return code + "_in_category"
    return code
