"""Assignment and attribution, with hand-computed answers."""

from __future__ import annotations

import pytest

from endcap.events.model import Event, Line
from endcap.experiments.assign import (
    AllocationError,
    allocate,
    bucket,
    counts,
    variant_at,
)
from endcap.experiments.model import BUCKETS, Allocation, Experiment, Variant
from endcap.experiments.report import build_report

T0 = 1_700_000_000.0


def test_buckets_are_deterministic_and_spread() -> None:
    assert bucket("t", "e", "u:1") == bucket("t", "e", "u:1")
    assert bucket("t", "e", "u:1") != bucket("t", "e2", "u:1") or \
        bucket("t", "e", "u:2") != bucket("t", "e2", "u:2")
    share = sum(bucket("t", "e", f"u:{i}") < BUCKETS // 2 for i in range(4000)) / 4000
    assert 0.46 < share < 0.54


def test_counts_round_by_largest_remainder() -> None:
    assert counts([0.5, 0.5]) == [5000, 5000]
    assert counts([1 / 3, 1 / 3, 1 / 3]) == [3334, 3333, 3333]
    assert sum(counts([0.1, 0.2, 0.3])) == 6000


def test_growing_and_stopping_never_move_a_running_variants_shoppers() -> None:
    first = allocate([0.3, 0.3])
    assert first.count(0) == first.count(1) == 3000 and first.count(-1) == 4000
    grown = allocate([0.3, 0.5], first)
    assert all(grown[b] == first[b] for b in range(BUCKETS) if first[b] >= 0)
    assert grown.count(1) == 5000
    stopped = allocate([0.3, 0.0], grown)
    assert stopped.count(1) == 0
    assert all(stopped[b] == 0 for b in range(BUCKETS) if grown[b] == 0)
    added = allocate([0.3, 0.0, 0.4], stopped)
    assert added.count(2) == 4000
    assert all(added[b] == 0 for b in range(BUCKETS) if stopped[b] == 0)
    with pytest.raises(AllocationError, match="shrink"):
        allocate([0.2, 0.5], grown)
    with pytest.raises(AllocationError, match="more than 1"):
        allocate([0.6, 0.5])


def experiment(**kw: object) -> Experiment:
    owner = [0 if b < BUCKETS // 2 else 1 for b in range(BUCKETS)]
    base: dict[str, object] = dict(
        id="e", pod_id="home", status="running", started_at=T0,
        variants=[Variant(id="a", share=0.5, strategy="bestsellers"),
                  Variant(id="b", share=0.5, strategy="for_you")],
        allocations=[Allocation(since=T0, owner=owner)], attribution_window_hours=1.0)
    base.update(kw)
    return Experiment(**base)  # type: ignore[arg-type]


def shopper_in(exp: Experiment, variant: int) -> str:
    return next(f"s{i}" for i in range(1000)
                if variant_at(exp, bucket("t", exp.id, f"u:s{i}"), T0 + 1) == variant)


def ev(eid: str, kind: str, user: str, t: float, **kw: object) -> Event:
    return Event(event_id=eid, type=kind, user_id=user, timestamp=T0 + t,  # type: ignore[arg-type]
                 **kw)  # type: ignore[arg-type]


def test_click_and_view_through_attribution() -> None:
    exp = experiment()
    a, b = shopper_in(exp, 0), shopper_in(exp, 1)
    imp = [Line(id="x"), Line(id="y")]
    events = [
        ev("i1", "impression", a, 10, pod_id="home", result_id="r1", items=imp),
        ev("i1-again", "impression", a, 11, pod_id="home", result_id="r1", items=imp),
        ev("c1", "click", a, 20, item_id="x", result_id="r1"),           # click-through
        ev("p1", "purchase", a, 30, items=[Line(id="x", quantity=2, price=5.0),
                                           Line(id="z", price=100.0)]),  # view-through: x
        ev("p2", "purchase", a, 10 + 7200, items=[Line(id="y", price=3.0)]),  # too late
        ev("c2", "click", b, 5, item_id="x"),                  # b not exposed yet
        ev("i2", "impression", b, 40, pod_id="home", result_id="r2", items=[Line(id="x")]),
        ev("i3", "impression", b, 41, pod_id="other", result_id="r3", items=[Line(id="y")]),
        ev("k1", "add_to_cart", b, 50, item_id="y"),           # y shown in another pod only
        ev("k2", "add_to_cart", b, 51, item_id="x", result_id="r2"),
    ]
    rep = build_report("t", exp, events, T0 + 10_000)
    va, vb = rep.variants
    assert (va.shoppers, va.impressions, va.clicks, va.clicks_view_through) == (1, 1, 1, 0)
    assert (va.purchases, va.purchases_view_through, va.revenue) == (1, 1, 10.0)
    assert (va.converted, va.conversion_rate, va.ctr) == (1, 1.0, 1.0)
    assert (vb.shoppers, vb.impressions, vb.clicks, vb.add_to_carts) == (1, 1, 0, 1)
    assert vb.add_to_carts_view_through == 0 and vb.carted == 1
    assert vb.revenue_per_shopper == 0.0 and va.revenue_per_1000_impressions == 10_000.0


def test_events_outside_the_experiment_and_duplicates_credit_nothing() -> None:
    exp = experiment(stopped_at=T0 + 100, status="stopped")
    a = shopper_in(exp, 0)
    events = [
        ev("before", "impression", a, -5, pod_id="home", result_id="r0",
           items=[Line(id="x")]),
        ev("i1", "impression", a, 10, pod_id="home", result_id="r1", items=[Line(id="x")]),
        ev("c1", "click", a, 20, item_id="x", result_id="r1"),
        ev("c1", "click", a, 21, item_id="x", result_id="r1"),  # same event_id
        ev("late", "click", a, 200, item_id="x", result_id="r1"),  # after the stop
    ]
    rep = build_report("t", exp, events, T0 + 10_000)
    assert (rep.variants[0].impressions, rep.variants[0].clicks) == (1, 1)
    assert rep.until == T0 + 100


def test_sample_ratio_mismatch_is_flagged() -> None:
    exp = experiment()
    shoppers = [f"s{i}" for i in range(3000)]
    in_a = [s for s in shoppers
            if variant_at(exp, bucket("t", "e", f"u:{s}"), T0 + 1) == 0][:600]
    in_b = [s for s in shoppers
            if variant_at(exp, bucket("t", "e", f"u:{s}"), T0 + 1) == 1][:400]
    events = [ev(f"i-{s}", "impression", s, 10, pod_id="home", result_id=f"r-{s}",
                 items=[Line(id="x")]) for s in in_a + in_b]
    rep = build_report("t", exp, events, T0 + 10_000)
    assert [v.shoppers for v in rep.variants] == [600, 400]
    assert rep.sample_ratio_mismatch and rep.decision == "sample_ratio_mismatch"
    assert "broken" in rep.decision_reason


def test_revenue_is_capped_per_line_from_before_the_start() -> None:
    from endcap.experiments.report import MIN_CAP_LINES, revenue_cap

    # 50 orders before the start with two lines each: line revenues 1..100; the 0.9
    # quantile is 90.1 (numpy's linear interpolation: 1 + 0.9 * 99). Purchases after the
    # start or more than 30 days before it do not count.
    before = [ev(f"b{i}", "purchase", f"old{i}", -3600 * (i + 1),
                 items=[Line(id="x", price=float(2 * i + 1)),
                        Line(id="y", price=float(2 * i + 2))]) for i in range(50)]
    noise = [ev("late", "purchase", "x", 10, items=[Line(id="x", price=1e6)]),
             ev("early", "purchase", "y", -40 * 86_400, items=[Line(id="x", price=1e6)])]
    assert revenue_cap(before + noise, T0, 0.9) == pytest.approx(90.1)
    assert revenue_cap(before, T0, None) is None
    assert revenue_cap(before[:MIN_CAP_LINES // 2 - 1], T0, 0.9) is None  # 48 lines

    exp = experiment(revenue_cap_quantile=0.9)
    a1, a2 = [f"s{i}" for i in range(1000)
              if variant_at(exp, bucket("t", exp.id, f"u:s{i}"), T0 + 1) == 0][:2]
    shown = [Line(id="x"), Line(id="y")]
    events = [*before,
              ev("i1", "impression", a1, 10, pod_id="home", result_id="r1", items=shown),
              ev("p1", "purchase", a1, 20, items=[Line(id="x", quantity=10, price=50.0)]),
              ev("i2", "impression", a2, 10, pod_id="home", result_id="r2", items=shown),
              ev("p2", "purchase", a2, 20, items=[Line(id="x", price=60.0),
                                                  Line(id="y", price=60.0)])]
    rep = build_report("t", exp, events, T0 + 10_000)
    assert rep.revenue_cap == pytest.approx(90.1)
    assert rep.variants[0].revenue == 620.0  # reported in full
    # Tested: the 500 line capped at 90.1; the two 60 lines are each under the cap.
    assert rep.comparisons[0].control_mean == pytest.approx((90.1 + 120.0) / 2)


DAY = 86_400.0


def visits(exp: Experiment, variant: int, spends: list[float], at: float,
           tag: str) -> list[Event]:
    """One impression per new shopper of ``variant`` at ``at``, and a purchase of the
    shown item for each non-zero spend."""
    ids = [f"{tag}{i}" for i in range(20 * len(spends))
           if variant_at(exp, bucket("t", exp.id, f"u:{tag}{i}"), T0 + at) == variant]
    out: list[Event] = []
    for who, spend in zip(ids, spends, strict=False):
        out.append(ev(f"i-{who}", "impression", who, at, pod_id="home",
                      result_id=f"r-{who}", items=[Line(id="x")]))
        if spend:
            out.append(ev(f"p-{who}", "purchase", who, at + 5,
                          items=[Line(id="x", price=spend)], result_id=f"r-{who}"))
    return out


def test_decision_is_the_first_significant_look_and_final() -> None:
    exp = experiment(revenue_cap_quantile=None)
    day0 = visits(exp, 0, [0.0, 10.0] * 150, 100, "a") + \
        visits(exp, 1, [0.0, 20.0] * 150, 100, "b")
    rep = build_report("t", exp, day0, T0 + 3600)
    assert rep.decision == "winner:b" and rep.decided_shoppers == 600
    assert rep.decided_at == T0 + 3600 and "b beats a" in rep.decision_reason
    # On day 2 the control's new shoppers spend far more, which would reverse the lift:
    # the decision was made at the first daily look and stays.
    day2 = visits(exp, 0, [5_000.0, 0.0] * 75, 2 * DAY + 100, "late") + \
        visits(exp, 1, [0.0] * 150, 2 * DAY + 100, "late")
    later = build_report("t", exp, day0 + day2, T0 + 3 * DAY)
    assert later.decision == "winner:b" and later.decided_at == T0 + DAY
    assert later.looks == 1 and later.comparisons[0].lift < 0  # shown on all the data


def test_control_wins_when_every_variant_is_worse() -> None:
    exp = experiment(revenue_cap_quantile=None)
    events = visits(exp, 0, [0.0, 20.0] * 150, 100, "a") + \
        visits(exp, 1, [0.0, 10.0] * 150, 100, "b")
    rep = build_report("t", exp, events, T0 + 3600)
    assert rep.decision == "winner:a" and "a beats every variant" in rep.decision_reason


def test_horizon_ends_with_no_difference() -> None:
    events_of = lambda exp: visits(exp, 0, [0.0, 10.0] * 60, 100, "a") + \
        visits(exp, 1, [10.0, 0.0] * 60, 100, "b")  # noqa: E731
    open_ended = experiment(revenue_cap_quantile=None)
    rep = build_report("t", open_ended, events_of(open_ended), T0 + 3600)
    assert rep.decision == "continue" and rep.decided_at is None
    assert rep.max_shoppers is None and rep.mde == pytest.approx(0.10)
    capped = experiment(revenue_cap_quantile=None, max_shoppers=200)
    rep = build_report("t", capped, events_of(capped), T0 + 3600)
    assert rep.decision == "no_difference" and rep.decided_shoppers == 240
    assert rep.comparisons[0].p_value > 0.05 and rep.comparisons[0].tau == pytest.approx(0.5)
    assert "horizon" in rep.decision_reason
