"""ShopperHistory: ordering, caps, what counts as viewed, and merging."""

from __future__ import annotations

from itertools import count

import pytest

from endcap.events.model import Event, Line
from endcap.stream.history import MAX_EVENTS, MAX_PURCHASED, ShopperHistory

_ids = count()


def ev(t: float | None, kind: str, *items: str) -> Event:
    """One event; a purchase (or impression) carries its items as lines."""
    k = next(_ids)
    if kind in ("purchase", "impression"):
        return Event(event_id=f"e{k}", type=kind, user_id="u",  # type: ignore[arg-type]
                     items=[Line(id=i) for i in items], timestamp=t)
    if kind == "search":
        return Event(event_id=f"e{k}", type="search", user_id="u", query="mugs",
                     timestamp=t)
    (item,) = items
    return Event(event_id=f"e{k}", type=kind, user_id="u",  # type: ignore[arg-type]
                 item_id=item, timestamp=t)


def hist(*events: Event) -> ShopperHistory:
    h = ShopperHistory()
    for e in events:
        h.apply(e)
    return h


def viewed(h: ShopperHistory) -> list[str]:
    return [item for item, _ in h.viewed_newest_first()]


# -- order ------------------------------------------------------------------------------


def test_events_in_order_are_appended() -> None:
    h = hist(ev(1.0, "view", "A"), ev(2.0, "click", "B"), ev(3.0, "add_to_cart", "B"),
             ev(4.0, "purchase", "B", "C"))
    assert h.events == [(1.0, "view", "A"), (2.0, "click", "B"), (3.0, "add_to_cart", "B"),
                        (4.0, "purchase", "B"), (4.0, "purchase", "C")]
    assert h.purchased == {"B": 4.0, "C": 4.0}


def test_late_events_are_placed_by_their_time() -> None:
    h = hist(ev(5.0, "view", "A"), ev(1.0, "view", "B"), ev(3.0, "click", "C"),
             ev(9.0, "view", "D"), ev(0.5, "purchase", "E"), ev(3.0, "view", "F"))
    # Equal times (C and F at 3) keep their arrival order.
    assert h.events == [(0.5, "purchase", "E"), (1.0, "view", "B"), (3.0, "click", "C"),
                        (3.0, "view", "F"), (5.0, "view", "A"), (9.0, "view", "D")]


def test_an_event_without_a_time_counts_as_time_zero() -> None:
    h = hist(ev(2.0, "view", "A"), ev(None, "view", "B"))
    assert h.events == [(0.0, "view", "B"), (2.0, "view", "A")]


def test_purchased_keeps_the_latest_purchase_time() -> None:
    h = hist(ev(5.0, "purchase", "A"), ev(2.0, "purchase", "A"), ev(7.0, "purchase", "B"),
             ev(8.0, "purchase", "B"))
    assert h.purchased == {"A": 5.0, "B": 8.0}
    assert [e[0] for e in h.events] == [2.0, 5.0, 7.0, 8.0]


def test_impressions_and_searches_are_ignored() -> None:
    h = hist(ev(1.0, "view", "A"))
    h.apply(ev(2.0, "impression", "B", "C"))
    h.apply(ev(3.0, "search"))
    assert h.events == [(1.0, "view", "A")]
    assert h.purchased == {}
    assert viewed(h) == ["A"]


# -- caps -------------------------------------------------------------------------------


def test_events_are_capped_dropping_the_oldest() -> None:
    h = hist(*(ev(float(t), "view", f"i{t}") for t in range(MAX_EVENTS + 5)))
    assert len(h.events) == MAX_EVENTS
    assert h.events[0] == (5.0, "view", "i5")
    assert h.events[-1] == (float(MAX_EVENTS + 4), "view", f"i{MAX_EVENTS + 4}")


def test_a_late_event_into_a_full_history_drops_the_oldest_not_the_newest() -> None:
    h = hist(*(ev(float(t), "view", f"i{t}") for t in range(MAX_EVENTS)))
    h.apply(ev(10.5, "click", "late"))
    assert len(h.events) == MAX_EVENTS
    assert h.events[0] == (1.0, "view", "i1")
    assert (10.5, "click", "late") in h.events
    assert h.events[-1] == (float(MAX_EVENTS - 1), "view", f"i{MAX_EVENTS - 1}")
    # Older than everything kept: it does not stay.
    h.apply(ev(0.25, "view", "ancient"))
    assert len(h.events) == MAX_EVENTS
    assert all(item != "ancient" for _, _, item in h.events)
    assert h.events[0] == (1.0, "view", "i1")


def test_events_stay_sorted_under_the_cap_whatever_the_arrival_order() -> None:
    times = [(k * 37) % (MAX_EVENTS + 50) for k in range(MAX_EVENTS + 50)]  # a permutation
    assert sorted(times) == list(range(MAX_EVENTS + 50))
    h = hist(*(ev(float(t), "view", f"i{t}") for t in times))
    # Inserting by time and dropping the oldest keeps the newest MAX_EVENTS of all seen.
    assert [e[0] for e in h.events] == [float(t) for t in range(50, MAX_EVENTS + 50)]


def test_purchased_is_capped_dropping_the_oldest_purchase() -> None:
    h = hist(*(ev(float(t), "purchase", f"i{t}") for t in range(MAX_PURCHASED + 3)))
    assert len(h.purchased) == MAX_PURCHASED
    assert "i0" not in h.purchased and "i2" not in h.purchased
    assert h.purchased["i3"] == 3.0
    assert h.purchased[f"i{MAX_PURCHASED + 2}"] == float(MAX_PURCHASED + 2)
    # The events list has its own, smaller cap.
    assert len(h.events) == MAX_EVENTS


def test_purchased_cap_goes_by_purchase_time_not_arrival() -> None:
    h = hist(*(ev(float(1000 + t), "purchase", f"i{t}") for t in range(MAX_PURCHASED)))
    h.apply(ev(1.0, "purchase", "late"))  # arrives last but is the oldest purchase
    assert len(h.purchased) == MAX_PURCHASED
    assert "late" not in h.purchased
    assert "i0" in h.purchased
    h.apply(ev(5000.0, "purchase", "new"))
    assert len(h.purchased) == MAX_PURCHASED
    assert "new" in h.purchased and "i0" not in h.purchased and "i1" in h.purchased


def test_a_purchase_of_many_lines_counts_every_line() -> None:
    h = ShopperHistory()
    h.apply(ev(1.0, "purchase", *(f"i{k}" for k in range(MAX_PURCHASED + 1))))
    assert len(h.purchased) == MAX_PURCHASED
    assert len(h.events) == MAX_EVENTS
    # The lines are in one order at one time: the cap keeps the last MAX_EVENTS lines.
    assert h.events[-1] == (1.0, "purchase", f"i{MAX_PURCHASED}")


# -- viewed_newest_first ------------------------------------------------------------------


def test_viewed_newest_first_dedupes_with_the_latest_time() -> None:
    h = hist(ev(1.0, "view", "A"), ev(2.0, "click", "B"), ev(3.0, "view", "A"),
             ev(4.0, "view", "C"), ev(5.0, "click", "B"))
    assert h.viewed_newest_first() == [("B", 5.0), ("C", 4.0), ("A", 3.0)]


def test_viewed_newest_first_counts_only_views_and_clicks() -> None:
    h = hist(ev(1.0, "add_to_cart", "A"), ev(2.0, "view", "B"), ev(3.0, "purchase", "C"))
    assert viewed(h) == ["B"]


def test_viewed_newest_first_uses_event_time_not_arrival_order() -> None:
    h = hist(ev(3.0, "view", "A"), ev(1.0, "view", "B"), ev(2.0, "click", "C"))
    assert h.viewed_newest_first() == [("A", 3.0), ("C", 2.0), ("B", 1.0)]


def test_items_bought_after_their_last_view_are_left_out() -> None:
    h = hist(ev(1.0, "view", "A"), ev(2.0, "view", "B"), ev(3.0, "purchase", "A"),
             ev(4.0, "view", "C"))
    assert viewed(h) == ["C", "B"]


def test_items_viewed_again_after_their_purchase_are_kept() -> None:
    h = hist(ev(1.0, "view", "A"), ev(2.0, "purchase", "A"), ev(3.0, "view", "A"),
             ev(4.0, "view", "B"))
    assert h.viewed_newest_first() == [("B", 4.0), ("A", 3.0)]


def test_a_purchase_before_any_view_does_not_hide_the_item() -> None:
    h = hist(ev(1.0, "purchase", "A"), ev(2.0, "view", "A"))
    assert viewed(h) == ["A"]


def test_a_late_purchase_after_the_last_view_hides_the_item() -> None:
    # The purchase arrives first, the earlier view later: the item was still bought
    # after it was viewed.
    h = hist(ev(5.0, "purchase", "A"), ev(2.0, "view", "A"), ev(3.0, "view", "B"))
    assert viewed(h) == ["B"]


def test_a_purchase_at_the_time_of_the_view_hides_the_item() -> None:
    h = hist(ev(2.0, "view", "A"), ev(2.0, "purchase", "A"))
    assert viewed(h) == []


def test_a_purchase_older_than_the_kept_events_still_counts() -> None:
    h = hist(ev(0.0, "view", "X"), ev(1.0, "purchase", "X"))
    for t in range(MAX_EVENTS):
        h.apply(ev(2.0 + t, "view", "Y"))
    h.apply(ev(500.0, "view", "X"))
    assert viewed(h) == ["X", "Y"]
    assert all(kind != "purchase" for _, kind, _ in h.events)
    assert h.purchased == {"X": 1.0}


def test_an_empty_history_views_nothing() -> None:
    assert ShopperHistory().viewed_newest_first() == []


# -- merged -----------------------------------------------------------------------------


def test_merged_combines_events_in_time_order_and_latest_purchases() -> None:
    user = hist(ev(1.0, "view", "A"), ev(4.0, "purchase", "B"), ev(6.0, "view", "C"))
    session = hist(ev(2.0, "view", "B"), ev(3.0, "purchase", "A"), ev(5.0, "click", "D"),
                   ev(7.0, "purchase", "B"))
    m = ShopperHistory.merged([user, session])
    assert m.events == [(1.0, "view", "A"), (2.0, "view", "B"), (3.0, "purchase", "A"),
                        (4.0, "purchase", "B"), (5.0, "click", "D"), (6.0, "view", "C"),
                        (7.0, "purchase", "B")]
    assert m.purchased == {"A": 3.0, "B": 7.0}
    # A: viewed at 1, bought at 3; B: viewed at 2, bought at 7.
    assert m.viewed_newest_first() == [("C", 6.0), ("D", 5.0)]


def test_merged_takes_the_latest_purchase_whichever_history_holds_it() -> None:
    a = hist(ev(9.0, "purchase", "X"), ev(1.0, "purchase", "Y"))
    b = hist(ev(2.0, "purchase", "X"), ev(8.0, "purchase", "Y"))
    assert ShopperHistory.merged([a, b]).purchased == {"X": 9.0, "Y": 8.0}
    assert ShopperHistory.merged([b, a]).purchased == {"X": 9.0, "Y": 8.0}


def test_merged_leaves_its_inputs_alone() -> None:
    a = hist(ev(1.0, "view", "A"))
    b = hist(ev(2.0, "purchase", "B"))
    m = ShopperHistory.merged([a, b])
    m.apply(ev(3.0, "view", "C"))
    assert a.events == [(1.0, "view", "A")] and a.purchased == {}
    assert b.events == [(2.0, "purchase", "B")] and b.purchased == {"B": 2.0}


def test_merged_keeps_the_newest_max_events() -> None:
    a = hist(*(ev(float(2 * t), "view", f"a{t}") for t in range(MAX_EVENTS)))
    b = hist(*(ev(float(2 * t + 1), "view", f"b{t}") for t in range(MAX_EVENTS)))
    m = ShopperHistory.merged([a, b])
    assert len(m.events) == MAX_EVENTS
    # 400 interleaved times 0..399: the newest 200 are 200..399.
    assert [e[0] for e in m.events] == [float(t) for t in range(MAX_EVENTS, 2 * MAX_EVENTS)]


@pytest.mark.parametrize("n", [0, 1])
def test_merged_of_none_or_one(n: int) -> None:
    one = hist(ev(1.0, "view", "A"), ev(2.0, "purchase", "B"))
    m = ShopperHistory.merged([one][:n])
    if n == 0:
        assert m.events == [] and m.purchased == {}
    else:
        assert m.events == one.events and m.purchased == one.purchased


def test_merged_with_an_empty_history_is_the_other() -> None:
    one = hist(ev(2.0, "view", "A"), ev(1.0, "purchase", "B"))
    m = ShopperHistory.merged([ShopperHistory(), one])
    assert m.events == [(1.0, "purchase", "B"), (2.0, "view", "A")]
    assert m.purchased == {"B": 1.0}
