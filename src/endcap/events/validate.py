"""Turn untrusted JSON into events, one verdict per event."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import msgspec

from endcap.errors import field_of, message_of
from endcap.events.model import SINGLE_ITEM_TYPES, Event


class Rejection(msgspec.Struct, omit_defaults=True):
    """Why the event at ``index`` of a batch was not accepted."""

    index: int
    reason: str
    field: str | None = None
    event_id: str | None = None


def check_event(event: Event) -> tuple[str, str] | None:
    """Rules a schema cannot say; returns (field, reason) for the first one broken."""
    if event.user_id is None and event.session_id is None:
        return "user_id", "an event needs user_id or session_id"
    if event.type in SINGLE_ITEM_TYPES:
        if event.item_id is None:
            return "item_id", f"a {event.type} event needs item_id"
        if event.items is not None:
            return "items", f"a {event.type} event takes item_id, not items"
    elif event.type in ("purchase", "impression"):
        if event.item_id is None and not event.items:
            return "items", f"a {event.type} event needs items or item_id"
    elif event.type == "search" and not event.query:
        return "query", "a search event needs query"
    return None


#: How far ahead of the server's clock an event may be dated (clock skew, time zones).
MAX_FUTURE_SECONDS = 24 * 3600


def settle(event: Event, now: float) -> tuple[str, str] | None:
    """Check ``event`` (see :func:`check_event`) and set its timestamp to epoch seconds;
    an event dated more than a day ahead is refused, as it would skew every model."""
    problem = check_event(event)
    if problem is not None:
        return problem
    ts = to_epoch(event.timestamp, now)
    if ts > now + MAX_FUTURE_SECONDS:
        return "timestamp", "timestamp is more than a day in the future"
    event.timestamp = ts
    return None


def to_epoch(ts: datetime | float | None, now: float) -> float:
    """Epoch seconds of an event time; naive datetimes are UTC, a missing time is ``now``."""
    if ts is None:
        return now
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        return ts.timestamp()
    return float(ts)


def validate_events(
    raw: list[Any], now: float | None = None
) -> tuple[list[tuple[int, Event]], list[Rejection]]:
    """Validate each raw event on its own; return (index, event) pairs and rejections.

    Events that repeat an ``event_id`` earlier in the same batch are dropped here and
    counted by the caller as duplicates.
    """
    now = time.time() if now is None else now
    good: list[tuple[int, Event]] = []
    bad: list[Rejection] = []
    for i, obj in enumerate(raw):
        eid = obj.get("event_id") if isinstance(obj, dict) else None
        eid = eid if isinstance(eid, str) else None
        try:
            event = msgspec.convert(obj, Event)
        except msgspec.ValidationError as e:
            bad.append(Rejection(i, message_of(e), field_of(e), eid))
            continue
        problem = settle(event, now)
        if problem is not None:
            bad.append(Rejection(i, problem[1], problem[0], eid))
            continue
        good.append((i, event))
    return good, bad
