"""The columnar synthetic shop of the training-cost benchmark (endcap.sampledata.scale)."""

from __future__ import annotations

import numpy as np
import pytest

from endcap.sampledata.scale import ScaleShop, generate_scale_shop, kind_shares, zipf_ranks
from endcap.sampledata.synthetic import DEFAULT_START
from endcap.train.interactions import CART, PURCHASE, VIEW, collect


@pytest.fixture(scope="module")
def shop() -> ScaleShop:
    return generate_scale_shop(3_000, seed=7)


def test_shapes(shop: ScaleShop) -> None:
    r = shop.rows
    assert len(shop.items) == 3_000
    assert len({it.id for it in shop.items}) == 3_000
    assert shop.n_events == 30_000  # exactly events_per_item * n_items
    assert all(len(col) == len(r) for col in (r.event, r.kind, r.item, r.quantity, r.time,
                                               r.shopper, r.session))
    assert r.item.min() >= 0 and r.item.max() < 3_000
    # Events numbered 0..E-1 in time order, each event's rows together.
    assert r.event[0] == 0 and np.all(np.diff(r.event) >= 0)
    assert np.all(np.diff(r.event) <= 1)
    assert np.all(np.diff(r.time) >= 0)
    assert r.time.min() >= DEFAULT_START and r.time.max() < DEFAULT_START + 60 * 86_400
    # Shoppers and sessions are numbered densely; a session has one shopper.
    assert set(np.unique(r.shopper)) == set(range(int(r.shopper.max()) + 1))
    assert set(np.unique(r.session)) == set(range(int(r.session.max()) + 1))
    pairs = np.unique(r.session * (int(r.shopper.max()) + 1) + r.shopper)
    assert len(pairs) == int(r.session.max()) + 1
    assert len(shop.user_of) == int(r.shopper.max()) + 1
    assert set(np.unique(r.quantity[r.kind != PURCHASE])) == {1.0}


def test_deterministic_by_seed(shop: ScaleShop) -> None:
    again = generate_scale_shop(3_000, seed=7)
    other = generate_scale_shop(3_000, seed=8)
    for name in ("event", "kind", "item", "quantity", "time", "shopper", "session"):
        assert np.array_equal(getattr(shop.rows, name), getattr(again.rows, name)), name
    assert [it.name for it in shop.items] == [it.name for it in again.items]
    assert not np.array_equal(shop.rows.item[:1000], other.rows.item[:1000])


def test_events_scale_with_the_multiplier() -> None:
    assert generate_scale_shop(500, events_per_item=3, seed=1).n_events == 1_500
    assert generate_scale_shop(500, events_per_item=0, seed=1).n_events == 0


def test_skew(shop: ScaleShop) -> None:
    r = shop.rows
    per_item = np.sort(np.bincount(r.item, minlength=3_000))[::-1]
    # Zipf-like: the top 1% of items draw far more than 1% of the interactions.
    assert per_item[:30].sum() > 0.15 * per_item.sum()
    assert per_item[0] > 20 * np.median(per_item)
    per_shopper = np.bincount(r.shopper)
    assert per_shopper.max() > 30 * np.median(per_shopper)


def test_event_kinds_in_plausible_ratios(shop: ScaleShop) -> None:
    k = kind_shares(shop.rows)
    assert 0.75 < k["view"] < 0.92
    assert 0.05 < k["click"] < 0.15
    assert 0.005 < k["purchase"] < k["add_to_cart"] < 0.08


def test_sessions_stay_in_a_category_and_buyers_rebuy(shop: ScaleShop) -> None:
    r = shop.rows
    cat = np.array([it.categories[0] for it in shop.items])
    views = r.kind == VIEW
    s, c = r.session[views], cat[r.item[views]]
    # Consecutive views of a session mostly share the sub-category (40 of them: chance
    # would give a few percent).
    order = np.lexsort((r.time[views], s))
    s, c = s[order], c[order]
    same = s[1:] == s[:-1]
    assert (c[1:][same] == c[:-1][same]).mean() > 0.6
    # Repeat purchases: some shopper buys an item in two different orders.
    bought = r.kind == PURCHASE
    key = r.shopper[bought] * 3_000 + r.item[bought]
    assert (np.unique(key, return_counts=True)[1] >= 2).sum() > 0
    # Carts come before purchases: every basket line was put in the cart.
    cart = set((r.session[r.kind == CART] * 3_000 + r.item[r.kind == CART]).tolist())
    lines = r.session[bought] * 3_000 + r.item[bought]
    assert set(lines.tolist()) <= cart


def test_events_collect_back_to_the_same_rows() -> None:
    small = generate_scale_shop(400, seed=3)
    events = small.events()
    assert len(events) == small.n_events
    index = {it.id: i for i, it in enumerate(small.items)}
    back = collect(events, index, default_time=0.0, session_gap=1800.0)
    r = small.rows
    assert len(back) == len(r)
    for name in ("event", "kind", "item", "quantity", "time"):
        assert np.array_equal(getattr(back, name), getattr(r, name)), name
    # The same partition of rows into shoppers and into sessions (numbered differently).
    for name in ("shopper", "session"):
        a, b = getattr(back, name), getattr(r, name)
        assert len(np.unique(a)) == len(np.unique(b))
        assert len(np.unique(a * (int(b.max()) + 1) + b)) == len(np.unique(a)), name


def test_zipf_ranks() -> None:
    u = np.random.default_rng(0).random(200_000)
    k = zipf_ranks(u, 1_000, 1.1)
    assert k.min() == 0 and k.max() < 1_000
    counts = np.bincount(k, minlength=1_000)
    # Weight ~ (rank + 1) ** -1.1: rank 0 against rank 9 about 10 ** 1.1 = 12.6.
    assert 8 < counts[0] / counts[9] < 18
    assert np.all(zipf_ranks(u[:10], np.full(10, 1), 1.0) == 0)
