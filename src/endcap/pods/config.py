"""A pod's configuration: which strategies feed a placement, and what may be shown there.

Shared by pods and by experiment variants (a variant is a pod configuration)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from endcap.catalog.model import CategoryPath, Id, Price, ShortText

StrategyName = Literal[
    "bestsellers",
    "trending",
    "recently_viewed",
    "alternative_items",
    "complementary_items",
    "for_you",
    "filtered_items",
    "semantic_search",
]
STRATEGIES: tuple[StrategyName, ...] = (
    "bestsellers", "trending", "recently_viewed", "alternative_items",
    "complementary_items", "for_you", "filtered_items", "semantic_search",
)
#: Strategies that need item embeddings (the `semantic` extra or a remote provider).
SEMANTIC: frozenset[StrategyName] = frozenset({"semantic_search"})
POD_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
PodId = Annotated[str, Meta(pattern=POD_ID_PATTERN)]
MAX_RESULTS = 100


class Filters(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Constraints every result must meet. Request filters narrow the pod's."""

    category: CategoryPath | None = None
    brand: ShortText | None = None
    price_min: Price | None = None
    price_max: Price | None = None
    in_stock: bool | None = None
    facets: Annotated[dict[ShortText, ShortText], Meta(max_length=20)] = {}


class Boost(Struct, forbid_unknown_fields=True, kw_only=True):
    """Multiply the score of the items matching ``filters`` by ``factor``: above 1 boosts
    them, below 1 buries them."""

    filters: Filters
    factor: Annotated[float, Meta(gt=0, le=1_000)]


class Rules(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Merchandising rules applied after the strategies."""

    pin: Annotated[list[Id], Meta(max_length=MAX_RESULTS)] = []
    #: Re-rank each strategy's leading candidates (a window of 3 × the results still
    #: needed, at least 30) by score × the factors of the boosts they match.
    boost: Annotated[list[Boost], Meta(max_length=20)] = []
    exclude: Annotated[list[Id], Meta(max_length=1_000)] = []
    max_per_category: Annotated[int, Meta(ge=1, le=MAX_RESULTS)] | None = None


class PodBody(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """A pod as PUT by a client: everything but the id, which comes from the URL."""

    strategy: StrategyName | Annotated[list[StrategyName], Meta(min_length=1, max_length=8)]
    display_name: ShortText = ""
    filters: Filters = msgspec.field(default_factory=Filters)
    rules: Rules = msgspec.field(default_factory=Rules)
    num_results: Annotated[int, Meta(ge=1, le=MAX_RESULTS)] = 10
    allow_repurchase: bool = False

    def chain(self) -> list[StrategyName]:
        """The strategies in the order they fill the results."""
        return [self.strategy] if isinstance(self.strategy, str) else list(self.strategy)
