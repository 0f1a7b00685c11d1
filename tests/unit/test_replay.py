"""Off-policy replay (position-based click model) on tiny hand-made logs, against values
worked out by hand. With eta = 1 the examination weights are theta = 1, 1/2, 1/3."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest

from endcap.catalog.model import Item
from endcap.cli.replay import add_parser, cmd_replay
from endcap.events.model import Event, Line
from endcap.experiments.replay import (
    Logged,
    ReplayError,
    candidate_pod,
    collect,
    estimate,
    replay,
    theta,
)
from endcap.pods.model import Filters, Pod
from endcap.store.protocol import Tenant
from endcap.store.url import open_store
from endcap.train.fit import fit_model

T0 = 1_700_000_000.0
POD = "home"


def imp(eid: str, user: str, items: list[str], t: float, pod: str = POD,
        result_id: str | None = None) -> Event:
    return Event(event_id=eid, type="impression", user_id=user, pod_id=pod,
                 result_id=result_id or eid, items=[Line(id=i) for i in items], timestamp=t)


def click(eid: str, user: str, item: str, t: float, result_id: str | None = None) -> Event:
    return Event(event_id=eid, type="click", user_id=user, item_id=item, timestamp=t,
                 result_id=result_id)


def buy(eid: str, user: str, item: str, price: float, t: float,
        result_id: str | None = None) -> Event:
    return Event(event_id=eid, type="purchase", user_id=user,
                 items=[Line(id=item, price=price)], timestamp=t, result_id=result_id)


#: u1 clicks and buys B (position 1) through r1; u2 clicks A (position 1) through r2;
#: u3 clicks C (position 2) an hour after r3 without a result_id (view-through).
LOG = [
    imp("r1", "u1", ["A", "B", "C"], T0),
    click("c1", "u1", "B", T0 + 10, "r1"),
    buy("p1", "u1", "B", 20.0, T0 + 20, "r1"),
    imp("r2", "u2", ["B", "A", "C"], T0 + 100),
    click("c2", "u2", "A", T0 + 110, "r2"),
    imp("r3", "u3", ["A", "B", "C"], T0 + 200),
    click("c3", "u3", "C", T0 + 200 + 3600),
]


def test_theta_is_the_stated_position_model() -> None:
    assert [theta(k, 1.0) for k in range(3)] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert theta(3, 0.0) == 1.0


def test_collect_credits_outcomes_by_result_id_and_by_window() -> None:
    logged = collect(LOG, POD)
    assert [(x.result_id, x.items, x.clicked, x.revenue) for x in logged] == [
        ("r1", ["A", "B", "C"], {"B"}, {"B": 20.0}),
        ("r2", ["B", "A", "C"], {"A"}, {}),
        ("r3", ["A", "B", "C"], {"C"}, {}),
    ]
    # Outside a 0.5 h window the view-through click is not credited.
    assert collect(LOG, POD, window_hours=0.5)[2].clicked == set()


def test_collect_dedupes_and_ignores_other_pods_and_shoppers() -> None:
    log = [*LOG,
           imp("r1-again", "u1", ["C"], T0 + 1, result_id="r1"),  # same result_id
           click("c1", "u1", "A", T0 + 30, "r1"),  # same event_id as the click on B
           imp("o1", "u1", ["A"], T0 + 2, pod="other"),
           click("c9", "u9", "A", T0 + 40, "r1")]  # someone else's result_id
    logged = collect(log, POD)
    assert [x.result_id for x in logged] == ["r1", "r2", "r3"]
    assert logged[0].clicked == {"B"}
    assert collect(LOG, POD, since=T0 + 50, until=T0 + 150)[0].result_id == "r2"


def test_the_logged_ranking_reproduces_the_observed_outcomes() -> None:
    logged = collect(LOG, POD)
    log_est, cand_est, extra = estimate(logged, [x.items for x in logged], seed=1)
    # relevance: u1/B 1/(1/2) = 2 clicks, 20/(1/2) = 40; u2/A 2; u3/C 1/(1/3) = 3
    # logged value: 1/2*2 = 1, 1/2*2 = 1, 1/3*3 = 1 clicks; revenue 20, 0, 0
    assert extra["observed_clicks"] == pytest.approx(1.0)
    assert log_est.clicks_per_impression == pytest.approx(1.0)
    assert log_est.revenue_per_impression == pytest.approx(20 / 3)
    assert extra["observed_revenue"] == pytest.approx(20 / 3)
    assert log_est.overlap == 1.0
    assert cand_est == log_est
    assert (extra["clicks_diff_low"], extra["clicks_diff_high"]) == (0.0, 0.0)
    # every impression is worth exactly one click: no spread
    assert log_est.clicks_low == pytest.approx(1.0)
    assert log_est.clicks_high == pytest.approx(1.0)


def test_exactness_pools_a_shopper_item_seen_at_two_positions() -> None:
    log = [imp("a", "u4", ["A", "B"], T0), click("ca", "u4", "B", T0 + 1, "a"),
           imp("b", "u4", ["B", "A"], T0 + 100)]
    logged = collect(log, POD)
    log_est, _, extra = estimate(logged, [x.items for x in logged])
    # B examined 1/2 + 1 = 1.5 times, clicked once: r = 2/3; values 1/3 and 2/3
    assert log_est.clicks_per_impression == pytest.approx(0.5)
    assert extra["observed_clicks"] == pytest.approx(0.5)


def test_a_candidate_that_swaps_the_first_two_items() -> None:
    logged = collect(LOG, POD)
    swapped = [[x.items[1], x.items[0], x.items[2]] for x in logged]
    _, cand_est, extra = estimate(logged, swapped, seed=3)
    # u1: B first: 1*2 = 2 clicks, 40 revenue; u2: A first: 2; u3: C still third: 1
    assert cand_est.clicks_per_impression == pytest.approx(5 / 3)
    assert cand_est.revenue_per_impression == pytest.approx(40 / 3)
    assert cand_est.overlap == 1.0
    assert extra["clicks_diff_low"] >= 0.0
    assert extra["clicks_diff_high"] == pytest.approx(1.0)
    assert cand_est.clicks_low <= 5 / 3 <= cand_est.clicks_high
    # seeded: the same intervals again
    assert estimate(logged, swapped, seed=3)[1] == cand_est


def test_unlogged_items_count_zero_and_lower_the_overlap() -> None:
    logged = collect(LOG, POD)
    cands = [["B", "X", "C"], ["A", "B", "C"], ["Y", "Z", "C"]]
    _, cand_est, _ = estimate(logged, cands)
    # hits 2 + 3 + 1 of 9 slots; clicks 2 (B first) + 2 (A first) + 1 (C third)
    assert cand_est.overlap == pytest.approx(6 / 9)
    assert cand_est.clicks_per_impression == pytest.approx(5 / 3)
    _, empty, _ = estimate(logged, [["X"], [], ["Y"]])
    assert empty.clicks_per_impression == 0.0
    assert empty.overlap == 0.0


def test_bad_input() -> None:
    with pytest.raises(ReplayError, match="no logged impressions"):
        estimate([], [])
    with pytest.raises(ValueError, match="one candidate list"):
        estimate([Logged("r", "u:x", ["u:x"], T0, ["A"])], [])
    pod = Pod(id=POD, strategy="trending")
    with pytest.raises(ReplayError, match="unknown strategy 'nope'"):
        candidate_pod(pod, ["bestsellers", "nope"])
    with pytest.raises(ReplayError, match="no strategy"):
        candidate_pod(pod, [])
    cand = candidate_pod(pod, ["bestsellers", "trending"], Filters(brand="Acme"))
    assert cand.chain() == ["bestsellers", "trending"] and cand.filters.brand == "Acme"


ITEMS = [Item(id=i, name=i.lower(), price=10.0 * (k + 1), categories=["Home"])
         for k, i in enumerate("ABCDE")]
#: Bestseller order A B C D E (5, 4, 3, 2, 1 purchases).
TRAIN = [Event(event_id=f"t{i}{n}", type="purchase", user_id=f"b{i}{n}",
               items=[Line(id=i)], timestamp=T0 - 86_400)
         for k, i in enumerate("ABCDE") for n in range(5 - k)]


def test_replay_runs_the_candidate_through_the_engine() -> None:
    model = fit_model(ITEMS, TRAIN, version="v1", now=T0)
    pod = Pod(id=POD, strategy="trending", num_results=3)
    # The logged ranker put C, B, A; the shopper clicked A at position 2: r = 3.
    log = [imp("r1", "me", ["C", "B", "A"], T0), click("c1", "me", "A", T0 + 5, "r1")]

    async def go() -> None:
        store = open_store("memory://")
        await store.upsert_items("shop", ITEMS)
        rep = await replay(store, "shop", pod, ["bestsellers"], model, log, seed=0)
        # bestsellers shows A, B, C: A first is worth 3 clicks
        assert rep.impressions == 1 and rep.shoppers == 1
        assert rep.logged.clicks_per_impression == pytest.approx(1.0)
        assert rep.observed_clicks_per_impression == pytest.approx(1.0)
        assert rep.candidate.clicks_per_impression == pytest.approx(3.0)
        assert rep.candidate.overlap == 1.0
        assert rep.candidate_strategy == ["bestsellers"]
        # The shopper's purchase of A before the impression hides it from the candidate.
        bought = [buy("p0", "me", "A", 10.0, T0 - 10), *log]
        rep = await replay(store, "shop", pod, ["bestsellers"], model, bought)
        assert rep.candidate.clicks_per_impression == 0.0  # B, C, D: none clicked
        assert rep.candidate.overlap == pytest.approx(2 / 3)
        assert "seeds" in (await replay(store, "shop", pod, ["alternative_items"], model,
                                        log)).notes[0]
        with pytest.raises(ReplayError, match="no logged impressions"):
            await replay(store, "shop", pod, ["bestsellers"], model, log, since=T0 + 1)
        await store.close()

    asyncio.run(go())


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_parser(p.add_subparsers(dest="command"))
    return p.parse_args(["replay", *argv])


@pytest.fixture
def shop(tmp_path: Path) -> str:
    url = f"file://{tmp_path / 'db'}"

    async def go() -> None:
        store = open_store(url)
        await store.create_tenant(Tenant(id="shop", name="", created_at=T0), "pk_x", "sk_x")
        await store.upsert_items("shop", ITEMS)
        await store.put_pod("shop", Pod(id=POD, strategy="trending", num_results=3))
        await store.put_pod("shop", Pod(id="empty", strategy="trending"))
        await store.append("shop", [imp("r1", "me", ["C", "B", "A"], T0),
                                    click("c1", "me", "A", T0 + 5, "r1")])
        await store.close()

    asyncio.run(go())
    return url


def test_cli_prints_the_table_and_json(shop: str, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    assert cmd_replay(parse("--store", shop, "--tenant", "shop", "--pod", POD,
                            "--strategy", "bestsellers,trending")) == 0
    out = capsys.readouterr().out
    assert "candidate" in out and "observed" in out and "1 impressions" in out
    assert cmd_replay(parse("--store", shop, "--tenant", "shop", "--pod", POD,
                            "--strategy", "trending", "--json")) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["impressions"] == 1
    assert data["logged"]["clicks_per_impression"] == pytest.approx(1.0)


@pytest.mark.parametrize(("argv", "message"), [
    (["--tenant", "nobody", "--pod", POD, "--strategy", "trending"], "unknown tenant"),
    (["--tenant", "shop", "--pod", "nope", "--strategy", "trending"], "no pod 'nope'"),
    (["--tenant", "shop", "--pod", "empty", "--strategy", "trending"], "no logged"),
    (["--tenant", "shop", "--pod", POD, "--strategy", "bogus"], "unknown strategy"),
    (["--tenant", "shop", "--pod", POD, "--strategy", "trending", "--filters", "{x"],
     "--filters"),
    (["--tenant", "shop", "--pod", POD, "--strategy", "trending", "--since", "1"],
     "no logged"),
])
def test_cli_bad_input_exits_2(shop: str, capsys: pytest.CaptureFixture[str],
                               argv: list[str], message: str) -> None:
    assert cmd_replay(parse("--store", shop, *argv)) == 2
    assert message in capsys.readouterr().err



def test_cli_table_shows_both_rows_with_their_overlap(
        shop: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd_replay(parse("--store", shop, "--tenant", "shop", "--pod", POD,
                            "--strategy", "recently_viewed")) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "100.0%" in lines["logged"]
    # recently_viewed has nothing to show before the click: an empty candidate
    assert lines["candidate"].split()[1] == "0.0000"
    assert lines["candidate"].split()[-1] == "-"  # no slots: no overlap to speak of
    assert "fewer slots" in out
