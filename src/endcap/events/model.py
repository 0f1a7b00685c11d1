"""The closed set of shopper events endcap understands."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from endcap.catalog.model import Id, Price, ShortText

EventType = Literal["view", "click", "add_to_cart", "purchase", "impression", "search"]
EVENT_TYPES: tuple[EventType, ...] = (
    "view", "click", "add_to_cart", "purchase", "impression", "search",
)
#: Types whose event concerns exactly one item, given as ``item_id``.
SINGLE_ITEM_TYPES = frozenset({"view", "click", "add_to_cart"})
MAX_EVENTS_PER_REQUEST = 1_000


class Line(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """One line of a purchase (or one item of an impression)."""

    id: Id
    quantity: Annotated[int, Meta(ge=1, le=1_000_000)] = 1
    price: Price | None = None


class Event(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """A shopper's action. ``timestamp`` is epoch seconds once validated."""

    event_id: Annotated[str, Meta(min_length=1, max_length=128)]
    type: EventType
    user_id: Id | None = None
    session_id: Id | None = None
    item_id: Id | None = None
    items: Annotated[list[Line], Meta(min_length=1, max_length=1_000)] | None = None
    query: ShortText | None = None
    revenue: Price | None = None
    timestamp: datetime | Annotated[float, Meta(ge=0, le=32_503_680_000)] | None = None
    pod_id: Annotated[str, Meta(max_length=64)] | None = None
    result_id: Annotated[str, Meta(max_length=64)] | None = None
    variant: Annotated[str, Meta(max_length=64)] | None = None

    def item_ids(self) -> list[str]:
        """Every item the event concerns, in order, without repeats."""
        ids: list[str] = []
        if self.item_id is not None:
            ids.append(self.item_id)
        if self.items:
            ids.extend(line.id for line in self.items if line.id not in ids)
        return ids

    def shopper_keys(self) -> list[str]:
        """The keys of the histories this event belongs to (user first, then session)."""
        keys = []
        if self.user_id is not None:
            keys.append("u:" + self.user_id)
        if self.session_id is not None:
            keys.append("s:" + self.session_id)
        return keys
