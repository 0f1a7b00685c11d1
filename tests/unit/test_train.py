"""Training against answers worked out by hand on catalogs of a few items."""

from __future__ import annotations

from math import log, sqrt

import numpy as np
import pytest
import scipy.sparse as sp

from endcap.catalog.model import Item
from endcap.events.model import Event, Line
from endcap.train.fit import TrainParams, fit_model
from endcap.train.model import Model
from endcap.train.similarity import top_k, top_k_dense

DAY = 86_400.0
T = 1_000 * DAY  # the reference time of most tests
_n = 0


def item(iid: str, name: str = "", categories: tuple[str, ...] = ()) -> Item:
    return Item(id=iid, name=name, categories=list(categories))


def ev(kind: str, what: str | list[str] | list[tuple[str, int]], t: float, *,
       user: str | None = None, session: str | None = None) -> Event:
    """One event; ``what`` is an item id, or purchase lines (ids or (id, quantity))."""
    global _n
    _n += 1
    if user is None and session is None:
        session = f"anon{_n}"
    if isinstance(what, str):
        return Event(event_id=str(_n), type=kind, item_id=what, timestamp=t,  # type: ignore[arg-type]
                     user_id=user, session_id=session)
    lines = [Line(id=w) if isinstance(w, str) else Line(id=w[0], quantity=w[1]) for w in what]
    return Event(event_id=str(_n), type=kind, items=lines, timestamp=t,  # type: ignore[arg-type]
                 user_id=user, session_id=session)


def ids(model: Model, order: np.ndarray) -> list[str]:
    return [model.item_ids[i] for i in order.tolist()]


def neighbours(model: Model, table: str, iid: str) -> list[tuple[str, float]]:
    idx, score = getattr(model, table).row(model.index[iid])
    return [(model.item_ids[j], float(s)) for j, s in zip(idx.tolist(), score.tolist(),
                                                           strict=True)]


def assert_neighbours(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [g[0] for g in got] == [w[0] for w in want]
    assert [g[1] for g in got] == pytest.approx([w[1] for w in want], rel=1e-5)


# --- popularity -------------------------------------------------------------------

POP = TrainParams(half_life_days=1.0, bestseller_weights=(0.1, 0.2, 0.5, 1.0))


def popularity_shop() -> tuple[list[Item], list[Event]]:
    items = [item("A", categories=("Home/Kitchen",)), item("B", categories=("Home/Garden",)),
             item("C", categories=("/Home/Kitchen/Knives/",)),
             item("D", categories=("Home/Kitchen",)), item("E", categories=("Toys",))]
    events = [
        ev("purchase", ["A"], T),                   # A: 1 * (1 + ln 1) * 2^0       = 1
        ev("view", "A", T - 2 * DAY),               # A: 0.1 * 2^-2                  = 0.025
        ev("purchase", ["B"], T - DAY),             # B: 1 * 2^-1                    = 0.5
        ev("add_to_cart", "B", T),                  # B: 0.5                         = 0.5
        ev("purchase", [("C", 10), ("X", 5)], T),   # C: 1 + ln 10; X is not in the catalog
        ev("view", "E", T - DAY),                   # E: 0.1 * 2^-1                  = 0.05
        ev("impression", ["D"], T),                 # impressions say nothing of taste
    ]
    return items, events


def test_bestseller_scores_follow_the_formula() -> None:
    items, events = popularity_shop()
    m = fit_model(items, events, params=POP)
    assert m.reference_time == T
    assert m.bestsellers.tolist() == pytest.approx([1.025, 1.0, 1 + log(10), 0.0, 0.05])
    # D never sold (an impression is not interest): left out of the order.
    assert ids(m, m.bestseller_order) == ["C", "A", "B", "E"]


def test_wholesale_order_is_log_dampened() -> None:
    # One line of 1,000 units counts 1 + ln 1000 = 7.9, under ten single-unit orders.
    items = [item("A"), item("B")]
    events = [ev("purchase", [("A", 1000)], T)] + [ev("purchase", ["B"], T) for _ in range(10)]
    m = fit_model(items, events, params=POP)
    assert m.bestsellers.tolist() == pytest.approx([1 + log(1000), 10.0])
    assert ids(m, m.bestseller_order) == ["B", "A"]


def test_equal_scores_keep_catalog_order() -> None:
    items = [item("A"), item("B"), item("C")]
    events = [ev("purchase", ["C", "B"], T)]
    m = fit_model(items, events)
    assert ids(m, m.bestseller_order) == ["B", "C"]


def test_category_orders_cover_every_prefix_and_every_item() -> None:
    items, events = popularity_shop()
    m = fit_model(items, events, params=POP)
    # Scores C 3.30 > A 1.025 > B 1.0 > E 0.05 > D 0; D comes last in its categories.
    assert {c: ids(m, o) for c, o in m.category_order.items()} == {
        "Home": ["C", "A", "B", "D"],
        "Home/Kitchen": ["C", "A", "D"],
        "Home/Kitchen/Knives": ["C"],
        "Home/Garden": ["B"],
        "Toys": ["E"],
    }


def test_now_ignores_later_events_and_sets_the_reference_time() -> None:
    items = [item("A"), item("B")]
    events = [ev("purchase", ["A"], T - DAY), ev("purchase", ["B"], T + DAY)]
    m = fit_model(items, events, params=POP, now=T)
    assert m.reference_time == T
    assert m.bestsellers.tolist() == pytest.approx([0.5, 0.0])


def test_no_events_gives_an_empty_but_usable_model() -> None:
    m = fit_model([item("A", categories=("Toys",)), item("B")], [], now=T, version="v1")
    assert m.version == "v1" and m.reference_time == T
    assert len(m.bestseller_order) == 0 and len(m.trending_order) == 0
    assert ids(m, m.category_order["Toys"]) == ["A"]
    assert neighbours(m, "alternatives", "A") == []


def test_duplicate_item_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="'A' appears more than once"):
        fit_model([item("A"), item("A")], [])


def test_stats_count_what_was_used() -> None:
    items, events = popularity_shop()
    m = fit_model(items, events, params=POP)
    # Six events touch catalog items (the impression is dropped), each its own shopper.
    assert m.stats["items"] == 5
    assert m.stats["events"] == 6
    assert m.stats["shoppers"] == 6
    assert m.stats["purchases"] == 3
    assert m.stats["timings"]["total"] >= 0


# --- trending -----------------------------------------------------------------------

TREND = TrainParams(trending_recent_days=7, trending_baseline_days=28, trending_prior=2,
                    trending_min_recent=2)


def shoppers_touch(iid: str, n: int, t: float, tag: str) -> list[Event]:
    return [ev("view", iid, t, user=f"{tag}{k}") for k in range(n)]


def test_trending_compares_recent_and_baseline_rates() -> None:
    # Baseline window (T-35d, T-7d] is fully covered: the log starts at T-40d.
    # score = (r + 2) / (b * 7/28 + 2)
    items = [item(i) for i in "PQRSZ"]
    recent, base = T - 2 * DAY, T - 20 * DAY
    events = [
        ev("view", "Z", T - 40 * DAY, user="old"),       # Z: r 0, b 0 -> 2/2 = 1
        *shoppers_touch("P", 4, recent, "p"),            # P: r 4, b 4 -> 6/3 = 2
        ev("click", "P", recent, user="p3"),             #    (same shopper again)
        *shoppers_touch("P", 4, base, "pb"),
        *shoppers_touch("Q", 3, recent, "q"),            # Q: r 3, b 0 -> 5/2 = 2.5
        *shoppers_touch("R", 1, recent, "r"),            # R: r 1 < 2 shoppers -> 3/2, unlisted
        *shoppers_touch("S", 2, recent, "s"),            # S: r 2, b 12 -> 4/5 = 0.8, falling
        *shoppers_touch("S", 12, base, "sb"),
    ]
    m = fit_model(items, events, params=TREND)
    assert m.trending.tolist() == pytest.approx([2.0, 2.5, 1.5, 0.8, 1.0])
    assert ids(m, m.trending_order) == ["Q", "P"]


def test_trending_baseline_shrinks_to_a_young_log() -> None:
    # The log starts at T-14d: the baseline covers 7 days, so b counts at 7/7 = 1.
    # P: r 4, b 4 -> (4+2)/(4+2) = 1, not rising. Q: r 4, b 1 -> 6/3 = 2.
    items = [item("P"), item("Q")]
    events = [*shoppers_touch("P", 4, T - 14 * DAY, "pb"), *shoppers_touch("P", 4, T, "p"),
              *shoppers_touch("Q", 1, T - 10 * DAY, "qb"), *shoppers_touch("Q", 4, T, "q")]
    m = fit_model(items, events, params=TREND)
    assert m.trending.tolist() == pytest.approx([1.0, 2.0])
    assert ids(m, m.trending_order) == ["Q"]


def test_no_trending_without_a_baseline() -> None:
    items = [item("P")]
    m = fit_model(items, shoppers_touch("P", 9, T, "p"), params=TREND)
    assert len(m.trending_order) == 0


# --- neighbours ---------------------------------------------------------------------

NB = TrainParams(cooccurrence_shrink=1.0, blend_shrink=1.0, min_cobought=1)


def test_alternatives_blend_shrunk_coview_cosine_by_evidence() -> None:
    # No text (no names): alternatives are behaviour only, scaled by w = m / (m + 1),
    # m = sessions where the item was viewed with another one.
    items = [item("A"), item("B"), item("C")]
    events = [
        ev("view", "A", T, session="s1"), ev("view", "B", T, session="s1"),
        ev("view", "A", T, session="s2"), ev("view", "B", T, session="s2"),
        ev("view", "A", T, session="s3"), ev("click", "C", T, session="s3"),
        ev("view", "B", T, session="s4"),
    ]
    # n_A = 3, n_B = 3, n_C = 1; c_AB = 2, c_AC = 1, c_BC = 0.
    s_ab = 2 / (sqrt(3 * 3) + 1)   # 0.5
    s_ac = 1 / (sqrt(3 * 1) + 1)   # 0.366
    # m_A = 3 (s1, s2, s3), m_B = 2, m_C = 1 -> w = 3/4, 2/3, 1/2.
    m = fit_model(items, events, params=NB)
    assert_neighbours(neighbours(m, "alternatives", "A"), [("B", 0.75 * s_ab), ("C", 0.75 * s_ac)])
    assert_neighbours(neighbours(m, "alternatives", "B"), [("A", 2 / 3 * s_ab)])
    assert_neighbours(neighbours(m, "alternatives", "C"), [("A", 0.5 * s_ac)])


def test_alternatives_of_untouched_items_come_from_text() -> None:
    # TF-IDF with smooth idf and sublinear tf: idf = 1 + ln((1 + n) / (1 + df)), n = 3.
    # red, white, blue, scarf: df 1 -> idf1 = 1 + ln 2; heart, holder: df 2 -> idf2.
    idf1, idf2 = 1 + log(4 / 2), 1 + log(4 / 3)
    cos = 2 * idf2**2 / (idf1**2 + 2 * idf2**2)   # 0.536
    items = [item("R", "Red heart holder"), item("W", "White heart holder"),
             item("S", "blue scarf")]
    m = fit_model(items, [])
    assert_neighbours(neighbours(m, "alternatives", "R"), [("W", cos)])
    assert_neighbours(neighbours(m, "alternatives", "W"), [("R", cos)])
    assert neighbours(m, "alternatives", "S") == []


def test_sessions_without_id_split_at_a_30_minute_gap() -> None:
    items = [item("A"), item("B"), item("C")]
    events = [ev("view", "A", T, user="u"), ev("view", "B", T + 600, user="u"),
              ev("view", "C", T + 600 + 3600, user="u")]
    m = fit_model(items, events, params=NB)
    # {A, B} then {C}: n = 1 each, c_AB = 1 -> 1 / (1 + 1) = 0.5, times w = 1/2.
    assert_neighbours(neighbours(m, "alternatives", "A"), [("B", 0.25)])
    assert neighbours(m, "alternatives", "C") == []


def test_complements_leave_out_textual_substitutes() -> None:
    items = [item("R", "red heart holder"), item("W", "white heart holder"),
             item("K", "candle wax")]
    orders = [["R", "W", "K"], ["R", "K"], ["R", "W"]]
    events = [ev("purchase", o, T) for o in orders]
    # n_R = 3, n_W = 2, n_K = 2; c_RW = 2, c_RK = 2, c_WK = 1.
    s_rw = s_rk = 2 / (sqrt(6) + 1)   # 0.580
    s_wk = 1 / (sqrt(4) + 1)          # 0.333
    # Text cosine R-W = 0.536 as in the test above (same document frequencies).
    m = fit_model(items, events, params=NB)
    assert_neighbours(neighbours(m, "complements", "R"), [("K", s_rk)])
    assert_neighbours(neighbours(m, "complements", "W"), [("K", s_wk)])
    assert_neighbours(neighbours(m, "complements", "K"), [("R", s_rk), ("W", s_wk)])
    # With the threshold out of reach, W is R's complement again (tie with K: W first).
    loose = fit_model(items, events, params=TrainParams(
        cooccurrence_shrink=1.0, min_cobought=1, substitute_text_threshold=1.0))
    assert_neighbours(neighbours(loose, "complements", "R"), [("W", s_rw), ("K", s_rk)])
    # By default a pair needs two shared baskets: W-K (one) is chance.
    strict = fit_model(items, events, params=TrainParams(cooccurrence_shrink=1.0))
    assert_neighbours(neighbours(strict, "complements", "R"), [("K", s_rk)])
    assert_neighbours(neighbours(strict, "complements", "W"), [])
    assert_neighbours(neighbours(strict, "complements", "K"), [("R", s_rk)])


def test_complements_leave_out_items_viewed_together_but_bought_apart() -> None:
    def session(sid: str, viewed: str, bought: str) -> list[Event]:
        return [*(ev("view", i, T, session=sid) for i in viewed),
                ev("purchase", list(bought), T + 60, session=sid)]

    items = [item("X"), item("Y"), item("Z")]
    events = [*session("s1", "XY", "X"), *session("s2", "XY", "Y"),
              *session("s3", "XZ", "XZ"), *session("s4", "XYZ", "XYZ")]
    # Co-views: n_X 4, n_Y 3, n_Z 2; c_XY 3, c_XZ 2, c_YZ 1.
    v_xy, v_yz = 3 / (sqrt(12) + 1), 1 / (sqrt(6) + 1)        # 0.672, 0.290
    # Co-purchases: n_X 3, n_Y 2, n_Z 2; c_XY 1, c_XZ 2, c_YZ 1.
    p_xy, p_xz, p_yz = 1 / (sqrt(6) + 1), 2 / (sqrt(6) + 1), 1 / (sqrt(4) + 1)
    # X-Y: bought 0.290 < 0.5 * viewed 0.672 -> substitutes (both ways).
    # Y-Z: bought 0.333 >= 0.5 * viewed 0.290 -> complements.
    assert p_xy < 0.5 * v_xy and p_yz >= 0.5 * v_yz
    m = fit_model(items, events, params=NB)
    assert_neighbours(neighbours(m, "complements", "X"), [("Z", p_xz)])
    assert_neighbours(neighbours(m, "complements", "Y"), [("Z", p_yz)])
    assert_neighbours(neighbours(m, "complements", "Z"), [("X", p_xz), ("Y", p_yz)])
    off = fit_model(items, events, params=TrainParams(cooccurrence_shrink=1.0, min_cobought=1,
                                                      substitute_coview_k=0))
    assert_neighbours(neighbours(off, "complements", "X"), [("Z", p_xz), ("Y", p_xy)])


def test_related_weighs_each_shopper_by_their_strongest_event() -> None:
    # The cosine model of ``related`` (the linear model's fallback outside its head).
    # Weights view 0.25, click 0.4, cart 0.7, purchase 1 (u1 viewed and bought A: 1).
    items = [item("A"), item("B"), item("C")]
    events = [ev("view", "A", T, user="u1"), ev("purchase", ["A"], T, user="u1"),
              ev("view", "B", T, user="u1"),
              ev("view", "A", T, user="u2"), ev("view", "B", T, user="u2"),
              ev("add_to_cart", "A", T, user="u3"), ev("click", "C", T, user="u3")]
    norm_a = sqrt(1.0**2 + 0.25**2 + 0.7**2)
    norm_b = sqrt(0.25**2 + 0.25**2)
    norm_c = 0.4
    s_ab = (1.0 * 0.25 + 0.25 * 0.25) / (norm_a * norm_b + 0.5)   # 0.332
    s_ac = (0.7 * 0.4) / (norm_a * norm_c + 0.5)                   # 0.280
    m = fit_model(items, events, params=TrainParams(affinity_shrink=0.5,
                                                    for_you_model="cosine"))
    assert_neighbours(neighbours(m, "related", "A"), [("B", s_ab), ("C", s_ac)])
    assert_neighbours(neighbours(m, "related", "B"), [("A", s_ab)])
    assert_neighbours(neighbours(m, "related", "C"), [("A", s_ac)])


def test_neighbour_lists_are_cut_to_k_and_never_hold_the_item() -> None:
    items = [item(f"i{k}", f"shared words item{k}") for k in range(6)]
    events = [ev("purchase", [f"i{k}" for k in range(6)], T, user="u")]
    m = fit_model(items, events, params=TrainParams(neighbours=3, for_you_neighbours=3))
    for table in ("alternatives", "complements", "related"):
        nb = getattr(m, table)
        assert nb.idx.shape == (6, 3)
        for i in range(6):
            row, _ = nb.row(i)
            assert i not in row.tolist()


def test_dense_and_sparse_top_k_agree() -> None:
    rng = np.random.default_rng(7)
    d = np.round(rng.random((6, 40)), 2) * (rng.random((6, 40)) < 0.5)
    sparse_idx, sparse_score = top_k(sp.csr_matrix(d), 5, 2)
    dense_idx, dense_score = top_k_dense(d.copy(), 5, 2)
    assert sparse_idx.tolist() == dense_idx.tolist()
    assert sparse_score.tolist() == dense_score.tolist()
    # Row 0 is item 2: never its own neighbour; best first, ties by lower column.
    row = [(s, -c) for c, s in enumerate(d[0]) if c != 2 and s > 0]
    want = [-c for s, c in sorted(row, reverse=True)[:5]]
    assert sparse_idx[0].tolist()[:len(want)] == want


# --- the artifact -------------------------------------------------------------------

def test_model_round_trips_through_bytes() -> None:
    items, events = popularity_shop()
    events += [ev("view", "A", T, session="s"), ev("view", "B", T, session="s")]
    m = fit_model(items, events, params=POP, version="v7")
    back = Model.from_bytes(m.to_bytes())
    assert back.version == "v7"
    assert back.trained_at == m.trained_at and back.reference_time == m.reference_time
    assert back.item_ids == m.item_ids and back.index == m.index
    for name in ("bestsellers", "bestseller_order", "trending", "trending_order"):
        assert np.array_equal(getattr(back, name), getattr(m, name))
    for name in ("alternatives", "complements", "related"):
        assert np.array_equal(getattr(back, name).idx, getattr(m, name).idx)
        assert np.array_equal(getattr(back, name).score, getattr(m, name).score)
    assert back.category_order.keys() == m.category_order.keys()
    for c, order in m.category_order.items():
        assert np.array_equal(back.category_order[c], order)
    assert back.stats == m.stats
