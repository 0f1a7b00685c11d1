from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from endcap.api.recommend import parse_query
from endcap.catalog.ingest import parse_items, parse_patch
from endcap.errors import BadRequest, Invalid
from endcap.events.ingest import decode_events
from endcap.events.validate import to_epoch, validate_events


def test_events_one_verdict_each() -> None:
    raw = [
        {"event_id": "a", "type": "view", "user_id": "u", "item_id": "x"},
        {"event_id": "b", "type": "view", "user_id": "u"},
        {"event_id": "c", "type": "purchase", "session_id": "s"},
        {"event_id": "d", "type": "search", "session_id": "s"},
        {"event_id": "e", "type": "teleport", "session_id": "s", "item_id": "x"},
        {"event_id": "f", "type": "view", "item_id": "x"},
        {"event_id": "g", "type": "view", "user_id": "u", "item_id": "x", "extra": 1},
        {"event_id": "h", "type": "purchase", "user_id": "u",
         "items": [{"id": "x", "quantity": 0}]},
        "not an object",
        {"event_id": "i", "type": "click", "user_id": "u", "item_id": "x",
         "items": [{"id": "y"}]},
    ]
    good, bad = validate_events(raw, now=5.0)
    assert [i for i, _ in good] == [0]
    assert good[0][1].timestamp == 5.0  # a missing time is "now"
    fields = {r.index: r.field for r in bad}
    assert fields == {1: "item_id", 2: "items", 3: "query", 4: "type", 5: "user_id",
                      6: "extra", 7: "items[0].quantity", 8: None, 9: "items"}
    assert all(r.reason for r in bad)
    assert {r.index: r.event_id for r in bad}[6] == "g"


def test_events_dated_far_ahead_are_refused() -> None:
    day = 24 * 3600
    raw = [{"event_id": str(n), "type": "view", "user_id": "u", "item_id": "x",
            "timestamp": 1_000_000 + dt} for n, dt in enumerate((-day, day - 1, day + 1))]
    good, bad = validate_events(raw, now=1_000_000)
    assert [i for i, _ in good] == [0, 1]
    assert [(r.index, r.field) for r in bad] == [(2, "timestamp")]
    fast_good, fast_bad = decode_events(msgspec.json.encode(raw), 1_000_000)
    assert [i for i, _ in fast_good] == [0, 1] and [r.index for r in fast_bad] == [2]


def test_timestamps() -> None:
    assert to_epoch(datetime(2011, 1, 1, tzinfo=UTC), 0) == 1293840000.0
    assert to_epoch(datetime(2011, 1, 1), 0) == 1293840000.0  # naive is UTC
    assert to_epoch(12.5, 0) == 12.5
    good, _ = validate_events([{"event_id": "a", "type": "view", "user_id": "u",
                                "item_id": "x", "timestamp": "2011-01-01T01:00:00+01:00"}])
    assert good[0][1].timestamp == 1293840000.0


def test_decode_events_fast_and_slow_paths_agree() -> None:
    ok = b'[{"event_id": "a", "type": "view", "user_id": "u", "item_id": "x"}]'
    good, bad = decode_events(ok, 1.0)
    assert len(good) == 1 and not bad
    mixed = ok[:-1] + b', {"event_id": "b", "type": "view"}]'
    good, bad = decode_events(mixed, 1.0)
    assert len(good) == 1 and [r.index for r in bad] == [1]
    single = b'{"event_id": "a", "type": "view", "session_id": "s", "item_id": "x"}'
    assert len(decode_events(single, 1.0)[0]) == 1
    for body in (b"{", b"", b"3", b"[]", b'"x"'):
        with pytest.raises(BadRequest):
            decode_events(body, 1.0)
    with pytest.raises(Invalid):
        decode_events(msgspec.json.encode([{"event_id": str(i)} for i in range(1001)]), 1.0)


def test_items_all_or_nothing() -> None:
    items = parse_items(b'[{"id": "a", "price": 1}, {"id": "b"}]', ndjson=False)
    assert [i.id for i in items] == ["a", "b"]
    items = parse_items(b'{"id": "a"}\n\n{"id": "b", "categories": ["X/Y"]}\n', ndjson=True)
    assert items[1].categories == ["X/Y"]
    with pytest.raises(Invalid) as e:
        parse_items(b'[{"id": "a"}, {"id": "b", "price": -3}]', ndjson=False)
    assert e.value.details["field"] == "[1].price"
    with pytest.raises(Invalid) as e:
        parse_items(b'{"id": "a"}\n{"id": ""}\n', ndjson=True)
    assert e.value.details["line"] == 2
    with pytest.raises(BadRequest):
        parse_items(b"   ", ndjson=False)
    with pytest.raises(Invalid):
        parse_items(msgspec.json.encode([{"id": str(i)} for i in range(10_001)]), ndjson=False)
    with pytest.raises(Invalid):
        parse_items(b'[{"id": "a\\u0000b"}]', ndjson=False)


def test_patch() -> None:
    p = parse_patch(b'{"price": 3, "in_stock": false}')
    assert (p.price, p.in_stock) == (3, False)
    with pytest.raises(Invalid):
        parse_patch(b'{"id": "other"}')  # the id is not patchable
    with pytest.raises(Invalid):
        parse_patch(b'{"price": "3"}')


def test_recommendation_query() -> None:
    q = parse_query([("user_id", "u"), ("item_id", "a"), ("item_id", "b,c"),
                     ("exclude", "z"), ("num_results", "7"), ("filters[brand]", "acme")])
    assert (q.user_id, q.seeds, q.exclude, q.num_results, q.filters.brand) == (
        "u", ["a", "b", "c"], ["z"], 7, "acme")
    for bad in ([("num_results", "101")], [("num_results", "-1")], [("user_id", "")],
                [("item_id", "x")] * 51, [("page", "2")], [("user_id", "a\nb")]):
        with pytest.raises(BadRequest):
            parse_query(bad)
