"""The training gate: the window split, the test set and scores worked out by hand, and
the decision on small synthetic logs with real fits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from math import log2
from typing import TypeVar

import numpy as np
import pytest
import scipy.sparse as sp

from endcap.catalog.model import Item
from endcap.events.model import Event, Line
from endcap.quality.metrics import Metrics
from endcap.sampledata.synthetic import generate_shop
from endcap.store.protocol import Store
from endcap.store.url import open_store
from endcap.train.fit import TrainParams, fit_model
from endcap.train.gate import (
    DAY,
    GateReport,
    GateSettings,
    Window,
    WindowReport,
    align,
    evaluate_window,
    judge,
    relevant_pairs,
    split_window,
    top_unseen,
    unseen_part,
)
from endcap.train.interactions import Interactions, collect
from endcap.train.job import TrainResult, artifact_meta, model_history, train_tenant
from endcap.train.model import Model, Neighbours

R = TypeVar("R")
FAST = TrainParams(tune=False)


#: The whole recent window (not the default "unseen" part): these tests pit a candidate
#: against a current model that saw the window.
RECENT = GateSettings(window="recent")

def view(n: int, user: str, iid: str, day: float) -> Event:
    return Event(event_id=f"e{n}", type="view", user_id=user, item_id=iid,
                 timestamp=day * DAY)


def rows_of(events: list[Event], item_ids: list[str]) -> Interactions:
    return collect(events, {iid: i for i, iid in enumerate(item_ids)}, default_time=0.0,
                   session_gap=1800.0)


# --- the window ---------------------------------------------------------------------


def test_a_long_log_is_cut_at_its_last_window_days() -> None:
    events = [view(d, "u", "A", float(d)) for d in range(0, 41)]
    rows = rows_of(events, ["A"])
    w = split_window(rows, 7.0)
    assert w is not None
    assert (w.start, w.end, w.rule) == (33 * DAY, 40 * DAY, "last 7 days")
    assert w.inside(rows).sum() == 8  # days 33..40


def test_a_short_log_keeps_its_last_tenth_of_events_counting_each_event_once() -> None:
    # 20 events over 19 days (under 4 windows of 7); the newest has three items, so
    # three rows, but it is one event of the two in the window.
    events = [view(d, "u", "A", float(d)) for d in range(19)]
    events.append(Event(event_id="big", type="purchase", user_id="u",
                        items=[Line(id=i) for i in "ABC"], timestamp=19 * DAY))
    rows = rows_of(events, ["A", "B", "C"])
    w = split_window(rows, 7.0)
    assert w is not None
    assert w.start == 18 * DAY and w.end == 19 * DAY
    assert w.rule.startswith("last 10% of events (the log spans 19.0 days")
    assert w.inside(rows).sum() == 4


def test_an_empty_log_has_no_window() -> None:
    assert split_window(rows_of([], ["A"])) is None


def test_the_unseen_part_starts_after_what_the_model_saw() -> None:
    w = Window(10.0, 20.0, "last 7 days")
    assert unseen_part(w, 5.0) == w
    cut = unseen_part(w, 15.0)
    assert cut.start > 15.0 and cut.start == pytest.approx(15.0) and cut.end == 20.0
    assert cut.rule == "last 7 days, after the current model's newest event"
    assert unseen_part(w, 25.0).start > cut.end  # all seen: an empty window


def test_test_pairs_are_returning_shoppers_and_items_new_to_them() -> None:
    items = ["A", "B", "C", "D"]
    before = [view(1, "u1", "A", 1), view(2, "u2", "B", 1), view(3, "u4", "C", 1)]
    window = [view(4, "u1", "D", 10), view(5, "u1", "A", 10),  # D new, A not
              view(6, "u2", "B", 10),                          # nothing new
              view(7, "u3", "A", 10),                          # no history before
              view(8, "u1", "B", 11)]                          # B new to u1
    rows = rows_of(before + window, items)
    inside = rows.time >= 10 * DAY
    shoppers, test_user, test_item = relevant_pairs(rows.select(~inside), rows.select(inside), 4)
    assert shoppers.tolist() == [0]  # u1, the first shopper collected
    assert test_user.tolist() == [0, 0]
    assert sorted(items[i] for i in test_item.tolist()) == ["B", "D"]


def test_top_unseen_skips_each_row_own_items() -> None:
    seen = sp.csr_matrix(np.array([[1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1]], np.float32))
    got = top_unseen(np.array([3, 0, 1, 2]), seen, 3)
    assert got.tolist() == [[1, 2, -1], [3, 0, 1], [-1, -1, -1]]


# --- scoring, by hand ---------------------------------------------------------------


def hand_model() -> Model:
    """related: A -> C 0.9, D 0.5, B 0.1; bestsellers B, A, C, D."""
    m = fit_model([Item(id=i) for i in "ABCD"], [], now=0.0, params=FAST)
    idx = np.full((4, 3), -1, np.int32)
    score = np.zeros((4, 3), np.float32)
    idx[0], score[0] = [2, 3, 1], [0.9, 0.5, 0.1]
    return replace(m, related=Neighbours(idx, score),
                   bestseller_order=np.array([1, 0, 2, 3], np.int32))


def test_window_scores_match_hand_computed_values() -> None:
    events = [view(1, "u1", "A", 1), view(2, "u2", "B", 1),
              view(3, "u1", "D", 10), view(4, "u1", "B", 10), view(5, "u2", "B", 10)]
    rows = rows_of(events, list("ABCD"))
    inside = rows.time >= 10 * DAY
    rep = evaluate_window(hand_model(), rows.select(~inside), rows.select(inside), 4)
    # One test shopper (u1: history A; new D and B); u2 has nothing new.
    assert (rep.shoppers, rep.relevant) == (1, 2)
    ideal = 1 + 1 / log2(3)
    # for_you: C, D, B (A is seen): hits at ranks 2 and 3.
    fy = rep.for_you
    assert fy.ndcg == pytest.approx((1 / log2(3) + 1 / log2(4)) / ideal)
    assert (fy.hit_rate, fy.recall, fy.mrr, fy.coverage) == pytest.approx((1, 1, 0.5, 0.75))
    # bestsellers: B, C, D (A is seen): hits at ranks 1 and 3.
    bs = rep.bestsellers
    assert bs.ndcg == pytest.approx((1 + 1 / log2(4)) / ideal)
    assert (bs.hit_rate, bs.mrr, bs.coverage) == pytest.approx((1, 1, 0.75))


def test_align_maps_a_model_to_todays_catalog() -> None:
    m = align(hand_model(), ["D", "E", "A", "B"])  # C left the catalog, E is new
    assert m.index == {"D": 0, "E": 1, "A": 2, "B": 3}
    assert m.related.row(2)[0].tolist() == [0, 3]  # A -> D, B
    assert m.related.row(2)[1].tolist() == pytest.approx([0.5, 0.1])
    assert len(m.related.row(1)[0]) == 0
    assert m.bestseller_order.tolist() == [3, 2, 0]  # B, A, D
    assert align(m, ["D", "E", "A", "B"]) is m


def test_evaluate_window_refuses_a_model_of_another_catalog() -> None:
    rows = rows_of([], ["A"])
    with pytest.raises(ValueError, match="align it first"):
        evaluate_window(hand_model(), rows, rows, 5)


def report(ndcg: float, shoppers: int = 10) -> WindowReport:
    m = Metrics(users=shoppers, ndcg=ndcg, hit_rate=0, recall=0, mrr=0, coverage=0,
                revenue_hit_rate=float("nan"), k=10, recall_k=20)
    return WindowReport(shoppers=shoppers, relevant=shoppers, for_you=m, bestsellers=m)


def test_judge_accepts_within_the_tolerance() -> None:
    assert judge(report(0.098), report(0.1), 0.02) == "accept"
    assert judge(report(0.0979), report(0.1), 0.02) == "reject"
    assert judge(report(0.0979), report(0.1), 0.0) == "reject"
    assert judge(report(0.2), report(0.1), 0.0) == "accept"
    assert judge(report(0.0, shoppers=0), report(0.0, shoppers=0), 0.02) == "no evidence"


def test_the_reason_says_why_there_was_no_comparison() -> None:
    empty = GateReport(decision="no evidence", published=True, forced=False, tolerance=0.02)
    assert empty.reason == "the window holds no events, so there is nothing to compare on"
    quiet = replace(empty, events_in_window=3)
    assert quiet.reason.startswith("no shopper with events before the window")
    assert empty.bias is None


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        GateSettings(tolerance=1.0)
    with pytest.raises(ValueError, match="window_days"):
        GateSettings(window_days=0)


# --- the decision, with real fits ---------------------------------------------------

SHOP = generate_shop(200, 300, 4000, seed=1, days=40)
END = max(float(e.timestamp) for e in SHOP.events)  # type: ignore[arg-type]
START = END - 7 * DAY  # the gate's window: the log spans 40 days


def with_shop(body: Callable[[Store], Awaitable[R]], events: list[Event] | None = None,
              items: list[Item] | None = None) -> R:
    async def go() -> R:
        store = open_store("memory://")
        try:
            await store.upsert_items("t", items or SHOP.items)
            await store.append("t", SHOP.events if events is None else events)
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(go())


async def publish(store: Store, model: Model) -> None:
    await store.publish_model("t", model.version, model.to_bytes())


def current_fit(now: float, version: str = "v-current", **kw: object) -> Model:
    return fit_model(SHOP.items, SHOP.events, params=replace(FAST, **kw), now=now,
                     version=version)


def test_the_first_model_is_published_without_a_comparison() -> None:
    async def body(store: Store) -> TrainResult:
        return await train_tenant(store, "t", params=FAST)

    r = with_shop(body)
    assert r.report.decision == "first model" and r.report.published
    assert r.model is not None and r.previous is None and r.report.candidate is None
    assert r.model.stats["gate"]["decision"] == "first model"


def test_an_unreadable_current_model_counts_as_none() -> None:
    async def body(store: Store) -> TrainResult:
        await store.publish_model("t", "v-old-format", b"PK\x03\x04 not a model")
        return await train_tenant(store, "t", params=FAST)

    r = with_shop(body)
    assert r.report.decision == "first model" and r.model is not None
    assert r.previous == "v-old-format"


def test_a_better_candidate_is_accepted_refitted_and_published_with_its_report() -> None:
    # The current model knew only the first 3 days: the candidate knows 33.
    async def body(store: Store) -> tuple[TrainResult, list[str], bytes | None]:
        await publish(store, current_fit(SHOP.events[0].timestamp + 3 * DAY))  # type: ignore[operator]
        r = await train_tenant(store, "t", params=FAST, gate=RECENT)
        assert r.model is not None
        return r, await store.model_versions("t"), await store.load_model("t", r.model.version)

    r, versions, artifact = with_shop(body)
    g = r.report
    assert g.decision == "accept" and g.published and not g.forced
    assert g.window is not None and g.window.start == START and g.window.end == END
    assert g.shoppers > 20 and g.current_saw_days == 0 and g.bias is None
    assert g.candidate is not None and g.current is not None
    assert g.candidate.for_you.ndcg > g.current.for_you.ndcg
    assert g.candidate.shoppers == g.current.shoppers == g.shoppers
    assert versions == ["v-current", r.model.version] and r.previous == "v-current"
    # The published model is the refit on the whole log, with the report in its stats.
    assert r.model.reference_time == END
    assert artifact is not None
    stored = artifact_meta(artifact)["stats"]["gate"]
    assert stored == g.as_dict()
    assert stored["current"]["for_you"]["ndcg"] == g.current.for_you.ndcg


def test_a_broken_candidate_is_rejected_and_nothing_is_published() -> None:
    # The current model was fitted on the same log before the window; the candidate
    # keeps one neighbour per item.
    broken = replace(FAST, for_you_neighbours=1, neighbours=1)

    async def body(store: Store) -> tuple[TrainResult, list[str], str | None]:
        await publish(store, current_fit(START - 1))
        r = await train_tenant(store, "t", params=broken, gate=RECENT)
        return r, await store.model_versions("t"), await store.current_model("t")

    r, versions, current = with_shop(body)
    g = r.report
    assert g.decision == "reject" and not g.published and r.model is None
    assert g.candidate is not None and g.current is not None
    assert g.candidate.for_you.ndcg < 0.98 * g.current.for_you.ndcg
    assert versions == ["v-current"] and current == "v-current" and r.previous == "v-current"


def test_a_current_model_trained_on_the_window_wins_and_the_report_says_why() -> None:
    async def body(store: Store) -> TrainResult:
        await publish(store, current_fit(END))
        return await train_tenant(store, "t", params=FAST, gate=RECENT)

    g = with_shop(body).report
    assert g.decision == "reject"
    assert g.current_saw_days == pytest.approx(7.0)
    assert g.bias is not None and "biased towards keeping it" in g.bias


def test_the_unseen_window_compares_like_with_like() -> None:
    # The current model was trained up to 2 days ago with the same code: on the days it
    # has not seen, the candidate is the same fit, so the scores are equal.
    async def body(store: Store) -> TrainResult:
        await publish(store, current_fit(END - 2 * DAY))
        return await train_tenant(store, "t", params=FAST, gate=GateSettings(window="unseen"))

    g = with_shop(body).report
    assert g.window is not None and g.window.start > END - 2 * DAY
    assert g.current_saw_days == 0 and g.shoppers > 0
    assert g.candidate is not None and g.current is not None
    assert g.candidate.for_you.ndcg == g.current.for_you.ndcg
    assert g.decision == "accept"


def test_force_publishes_a_rejected_candidate_and_says_so() -> None:
    async def body(store: Store) -> TrainResult:
        await publish(store, current_fit(END))
        return await train_tenant(store, "t", params=FAST, force=True, gate=RECENT)

    r = with_shop(body)
    assert r.report.decision == "reject" and r.report.forced and r.report.published
    assert r.model is not None and r.model.stats["gate"]["forced"] is True


def test_no_returning_shopper_in_the_window_is_no_evidence() -> None:
    items = [Item(id=i) for i in "ABC"]
    events = [view(n, f"old{n % 5}", "ABC"[n % 3], n) for n in range(25)]
    events += [view(100 + n, f"new{n}", "ABC"[n % 3], 35 + n / 10) for n in range(5)]

    async def body(store: Store) -> TrainResult:
        await publish(store, fit_model(items, events[:10], params=FAST, version="v0"))
        return await train_tenant(store, "t", params=FAST, gate=RECENT)

    r = with_shop(body, events, items)
    g = r.report
    assert g.decision == "no evidence" and g.published and g.candidate is None
    assert (g.events_before, g.events_in_window, g.shoppers) == (25, 5, 0)
    assert r.model is not None and r.model.stats["gate"]["decision"] == "no evidence"


def test_model_history_lists_versions_with_their_reports() -> None:
    async def body(store: Store) -> list[dict[str, object]]:
        await publish(store, current_fit(START - 1))
        await train_tenant(store, "t", params=FAST)
        await store.set_current_model("t", "v-current")
        return await model_history(store, "t")

    first, second = with_shop(body)
    assert first["version"] == "v-current" and first["current"] is True
    assert "gate" not in first["stats"]  # type: ignore[operator]
    assert second["current"] is False
    assert second["stats"]["gate"]["decision"] == "accept"  # type: ignore[index]
    assert second["stats"]["items"] == 200  # type: ignore[index]
