"""The strategies a pod can name."""

from __future__ import annotations

from endcap.pods.model import StrategyName
from endcap.strategies.base import Strategy
from endcap.strategies.neighbours import alternative_items, complementary_items
from endcap.strategies.personal import for_you, recently_viewed
from endcap.strategies.popular import bestsellers, filtered_items, trending
from endcap.strategies.semantic import semantic_search

STRATEGIES: dict[StrategyName, Strategy] = {
    "bestsellers": bestsellers,
    "trending": trending,
    "recently_viewed": recently_viewed,
    "alternative_items": alternative_items,
    "complementary_items": complementary_items,
    "for_you": for_you,
    "filtered_items": filtered_items,
    "semantic_search": semantic_search,
}
