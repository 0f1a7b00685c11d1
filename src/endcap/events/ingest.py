"""Accept a batch of events: validate each, drop repeats, log durably, apply to state
(or leave that to the stream workers when the store streams events)."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from endcap.errors import BadRequest, Invalid
from endcap.events.model import MAX_EVENTS_PER_REQUEST, Event
from endcap.events.validate import Rejection, settle, validate_events
from endcap.store.protocol import CatalogStore, EventLog, StateStore

_fast = msgspec.json.Decoder(Event | list[Event])


class IngestResult(msgspec.Struct):
    """What became of a batch: every event is counted exactly once."""

    accepted: int
    duplicated: int
    rejected: int
    errors: list[Rejection]


class EventSink(CatalogStore, EventLog, StateStore, Protocol):
    """What ingestion needs of a store."""


def decode_events(body: bytes, now: float) -> tuple[list[tuple[int, Event]], list[Rejection]]:
    """Parse a body holding one event or a list; one verdict per event."""
    try:
        decoded = _fast.decode(body)
    except msgspec.ValidationError:
        decoded = None  # some event is bad: judge them one by one below
    except msgspec.DecodeError as e:
        raise BadRequest(f"malformed JSON: {e}", field="body") from None
    if decoded is not None:
        events = decoded if isinstance(decoded, list) else [decoded]
        _check_size(len(events))
        good, bad = [], []
        for i, ev in enumerate(events):
            problem = settle(ev, now)
            if problem is None:
                good.append((i, ev))
            else:
                bad.append(Rejection(i, problem[1], problem[0], ev.event_id))
        return good, bad
    raw: Any = msgspec.json.decode(body)
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise BadRequest("send one event object or a JSON array of events", field="body")
    _check_size(len(raw))
    return validate_events(raw, now)


def _check_size(n: int) -> None:
    if n == 0:
        raise BadRequest("no events in the request", field="body")
    if n > MAX_EVENTS_PER_REQUEST:
        raise Invalid(f"{n} events in one request; the limit is {MAX_EVENTS_PER_REQUEST}",
                      field="body")


async def ingest(
    store: EventSink, tenant: str, good: list[tuple[int, Event]], bad: list[Rejection]
) -> IngestResult:
    """Reject events naming unknown items, log the rest once each, update histories."""
    ids = sorted({i for _, e in good for i in e.item_ids()})
    known = {i for i, it in zip(ids, await store.get_items(tenant, ids), strict=True) if it}
    keep: list[Event] = []
    seen: set[str] = set()
    duplicated = 0
    for idx, ev in good:
        missing = next((i for i in ev.item_ids() if i not in known), None)
        if missing is not None:
            field = "item_id" if ev.item_id == missing else "items"
            bad.append(Rejection(idx, f"unknown item {missing!r}: add it to the catalog first",
                                 field, ev.event_id))
        elif ev.event_id in seen:
            duplicated += 1
        else:
            seen.add(ev.event_id)
            keep.append(ev)
    fresh = await store.append(tenant, keep) if keep else []
    new = [e for e, f in zip(keep, fresh, strict=True) if f]
    if new and not store.streamed:
        await store.apply(tenant, new)
    bad.sort(key=lambda r: r.index)
    return IngestResult(len(new), duplicated + len(keep) - len(new), len(bad), bad)

