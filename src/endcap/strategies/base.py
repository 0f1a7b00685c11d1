"""What a strategy receives and what it returns.

A strategy is a plain function ``(Context) -> Iterator[(item_id, score)]`` yielding
candidates best first, lazily: the pod engine filters them and stops pulling as soon
as it has enough, so a strategy never needs to know ``num_results`` or the filters
(though it may use ``ctx.filters.category`` to start from a narrower list).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from endcap.pods.model import Filters
from endcap.semantic.artifact import ItemEmbeddings
from endcap.semantic.provider import Vectors
from endcap.stream.history import ShopperHistory
from endcap.train.model import Model

Candidates = Iterator[tuple[str, float]]


@dataclass(slots=True)
class Context:
    """A recommendations request as the strategies see it."""

    model: Model | None
    #: The request's ``item_id`` values (seed items), in order.
    seeds: list[str] = field(default_factory=list)
    #: The shopper's merged history (user and session); empty for an unknown shopper.
    history: ShopperHistory = field(default_factory=ShopperHistory)
    filters: Filters = field(default_factory=Filters)
    now: float = 0.0
    #: Whether the pod hides what the shopper bought (the engine drops those anyway; a
    #: strategy may drop them early, in bulk, to spare the engine the lookups).
    exclude_bought: bool = True
    #: The tenant's item embeddings, when it has any and this process can use them.
    embeddings: ItemEmbeddings | None = None
    #: The embedded free-text intent of a ``query=`` request (``semantic_search``).
    query: Vectors | None = None
    #: Why an item was proposed, when it is not the strategy's usual reason (a strategy
    #: that mixes sources notes the minority ones here; see ``pods.reasons``).
    reasons: dict[str, str] = field(default_factory=dict)


Strategy = Callable[[Context], Candidates]
