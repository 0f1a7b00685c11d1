"""Strategies over hand-made models, against rankings worked out by hand."""

from __future__ import annotations

import inspect
from itertools import islice
from typing import get_args

import numpy as np
import pytest

from endcap.catalog.model import Item
from endcap.events.model import Event, Line
from endcap.pods.model import Filters, StrategyName
from endcap.strategies.base import Candidates, Context
from endcap.strategies.registry import STRATEGIES
from endcap.stream.history import ShopperHistory
from endcap.train.fit import fit_model
from endcap.train.model import Model, Neighbours

IDS = ["A", "B", "C", "D", "E", "F"]


def table(rows: dict[str, list[tuple[str, float]]], k: int = 3) -> Neighbours:
    nb = Neighbours.empty(len(IDS), k)
    for iid, row in rows.items():
        for j, (other, score) in enumerate(row):
            nb.idx[IDS.index(iid), j] = IDS.index(other)
            nb.score[IDS.index(iid), j] = score
    return nb


def model(*, alternatives: Neighbours | None = None, complements: Neighbours | None = None,
          related: Neighbours | None = None) -> Model:
    scores = np.array([3.0, 0.0, 5.0, 1.0, 0.0, 2.0], np.float32)
    return Model(
        version="t", trained_at=0.0, reference_time=0.0, item_ids=list(IDS),
        bestsellers=scores,
        bestseller_order=np.array([2, 0, 5, 3], np.int32),          # C A F D
        trending=np.array([1, 1, 2.5, 1, 1.5, 1], np.float32),
        trending_order=np.array([2, 4], np.int32),                 # C E
        category_order={"Home": np.array([0, 3, 1], np.int32),     # A D, then unsold B
                        "Home/Kitchen": np.array([1], np.int32)},
        alternatives=alternatives or Neighbours.empty(len(IDS)),
        complements=complements or Neighbours.empty(len(IDS)),
        related=related or Neighbours.empty(len(IDS)),
    )


def take(name: StrategyName, ctx: Context, n: int = 100) -> list[tuple[str, float]]:
    return list(islice(STRATEGIES[name](ctx), n))


def names(got: list[tuple[str, float]]) -> list[str]:
    return [g[0] for g in got]


def history(*entries: tuple[float, str, str]) -> ShopperHistory:
    h = ShopperHistory()
    for k, (t, kind, iid) in enumerate(entries):
        h.apply(event(t, kind, iid, k))
    return h


def event(t: float, kind: str, iid: str, k: int = 0) -> Event:
    if kind == "purchase":
        return Event(event_id=f"e{t}{k}", type="purchase", user_id="u", items=[Line(id=iid)],
                     timestamp=t)
    return Event(event_id=f"e{t}{k}", type=kind, user_id="u", item_id=iid,  # type: ignore[arg-type]
                 timestamp=t)


def test_registry_covers_every_strategy_name() -> None:
    assert set(STRATEGIES) == set(get_args(StrategyName))


@pytest.mark.parametrize("name", sorted(set(get_args(StrategyName)) - {"recently_viewed"}))
def test_no_model_no_candidates(name: StrategyName) -> None:
    ctx = Context(model=None, seeds=["A"], history=history((1, "view", "A")))
    assert take(name, ctx) == []


@pytest.mark.parametrize("name", sorted(get_args(StrategyName)))
def test_strategies_are_lazy(name: StrategyName) -> None:
    assert inspect.isgenerator(STRATEGIES[name](Context(model=model())))


def test_bestsellers_in_order_with_scores() -> None:
    assert take("bestsellers", Context(model=model())) == [
        ("C", 5.0), ("A", 3.0), ("F", 2.0), ("D", 1.0)]


def test_bestsellers_start_from_the_category_list_and_stop_at_unsold() -> None:
    ctx = Context(model=model(), filters=Filters(category="/Home/"))
    assert take("bestsellers", ctx) == [("A", 3.0), ("D", 1.0)]
    # A category the model does not know: the whole list (the engine filters).
    ctx = Context(model=model(), filters=Filters(category="Garden"))
    assert names(take("bestsellers", ctx)) == ["C", "A", "F", "D"]


def test_trending_in_order() -> None:
    assert take("trending", Context(model=model())) == [("C", 2.5), ("E", 1.5)]


def test_filtered_items_reach_every_item_most_popular_first() -> None:
    got = take("filtered_items", Context(model=model()))
    # Sold ones by score (C A F D), then the unsold in catalog order (B E).
    assert got == [("C", 5.0), ("A", 3.0), ("F", 2.0), ("D", 1.0), ("B", 0.0), ("E", 0.0)]
    ctx = Context(model=model(), filters=Filters(category="Home"))
    assert names(take("filtered_items", ctx)) == ["A", "D", "B"]


def test_filtered_items_stop_early_on_a_big_catalog() -> None:
    n = 200_000
    big = Model(version="t", trained_at=0, reference_time=0,
                item_ids=[f"i{k}" for k in range(n)],
                bestsellers=np.zeros(n, np.float32), bestseller_order=np.zeros(0, np.int32),
                trending=np.zeros(n, np.float32), trending_order=np.zeros(0, np.int32),
                category_order={}, alternatives=Neighbours.empty(n),
                complements=Neighbours.empty(n), related=Neighbours.empty(n))
    assert names(take("filtered_items", Context(model=big), 3)) == ["i0", "i1", "i2"]


def test_recently_viewed_newest_first_without_items_bought_since() -> None:
    h = history((1, "purchase", "D"),   # bought before it was viewed: still shown
                (2, "view", "A"), (3, "click", "B"), (4, "view", "D"),
                (5, "purchase", "A"),   # bought after viewing: left out
                (6, "add_to_cart", "C"))  # a cart is not a view
    assert take("recently_viewed", Context(model=None, history=h)) == [
        ("D", 1.0), ("B", 0.5)]


def test_alternatives_of_one_seed_are_its_row() -> None:
    alt = table({"A": [("B", 0.6), ("C", 0.3)]})
    got = take("alternative_items", Context(model=model(alternatives=alt), seeds=["A"]))
    assert names(got) == ["B", "C"]
    assert [s for _, s in got] == pytest.approx([0.6, 0.3])


def test_alternatives_of_several_seeds_sum_decayed_rows_without_the_seeds() -> None:
    alt = table({"A": [("B", 0.6), ("C", 0.3)], "B": [("A", 0.5), ("D", 0.4), ("C", 0.1)]})
    ctx = Context(model=model(alternatives=alt), seeds=["A", "nope", "B", "A"])
    # Known seeds A (weight 1) then B (0.85); A and B themselves are left out.
    # C: 0.3 + 0.85 * 0.1 = 0.385;  D: 0.85 * 0.4 = 0.34.
    got = take("alternative_items", ctx)
    assert names(got) == ["C", "D"]
    assert [s for _, s in got] == pytest.approx([0.385, 0.34])


def test_alternatives_ties_go_to_the_lower_index_and_unknown_seeds_give_nothing() -> None:
    alt = table({"A": [("F", 0.5)], "B": [("E", 0.5)]})
    ctx = Context(model=model(alternatives=alt), seeds=["A", "B"])
    # F: 0.5, E: 0.85 * 0.5 = 0.425.
    assert names(take("alternative_items", ctx)) == ["F", "E"]
    alt = table({"A": [("F", 0.425)], "B": [("E", 0.5)]})
    ctx = Context(model=model(alternatives=alt), seeds=["A", "B"])
    # F: 0.425, E: 0.85 * 0.5 = 0.425 (the same float32) -> E (index 4) before F (5).
    assert names(take("alternative_items", ctx)) == ["E", "F"]
    assert take("alternative_items", Context(model=model(), seeds=["zzz"])) == []


def test_complements_use_their_own_table() -> None:
    comp = table({"C": [("A", 0.9)], "D": [("A", 0.2), ("E", 0.5)]})
    ctx = Context(model=model(complements=comp), seeds=["C", "D"])
    # A: 0.9 + 0.85 * 0.2 = 1.07;  E: 0.85 * 0.5 = 0.425.
    got = take("complementary_items", ctx)
    assert names(got) == ["A", "E"]
    assert [s for _, s in got] == pytest.approx([1.07, 0.425])
    assert take("alternative_items", ctx) == []


RELATED = table({"A": [("C", 0.8), ("B", 0.5)], "B": [("D", 0.6), ("C", 0.2)],
                 "E": [("C", 0.9)]})


def test_for_you_weighs_recent_items_by_kind_and_position() -> None:
    h = history((1, "view", "A"), (2, "add_to_cart", "B"), (3, "view", "A"))
    # Newest first: A (view 0.25, position 0) -> 0.25; B (cart 0.7, position 1) -> 0.595.
    # C: 0.25 * 0.8 + 0.595 * 0.2 = 0.319;  D: 0.595 * 0.6 = 0.357;  A, B: in the history.
    got = take("for_you", Context(model=model(related=RELATED), history=h))
    assert names(got) == ["D", "C"]
    assert [s for _, s in got] == pytest.approx([0.357, 0.319])


def test_for_you_changes_with_the_very_next_view() -> None:
    h = history((1, "view", "A"), (2, "add_to_cart", "B"), (3, "view", "A"))
    ctx = Context(model=model(related=RELATED), history=h)
    assert names(take("for_you", ctx)) == ["D", "C"]
    h.apply(event(4, "view", "E"))
    # E 0.25; A 0.25 * 0.85 = 0.2125; B 0.7 * 0.85^2 = 0.50575.
    # C: 0.25 * 0.9 + 0.2125 * 0.8 + 0.50575 * 0.2 = 0.49615;  D: 0.50575 * 0.6 = 0.30345.
    got = take("for_you", ctx)
    assert names(got) == ["C", "D"]
    assert [s for _, s in got] == pytest.approx([0.49615, 0.30345])


def test_for_you_takes_an_items_strongest_event() -> None:
    # A alone: its row scaled by the view weight 0.25 ...
    h = history((1, "view", "A"), (3, "view", "zzz"))
    got = take("for_you", Context(model=model(related=RELATED), history=h))
    assert names(got) == ["C", "B"]
    assert [s for _, s in got] == pytest.approx([0.2, 0.125])
    # ... and once bought, by the purchase weight 1.
    h.apply(event(2, "purchase", "A"))
    got = take("for_you", Context(model=model(related=RELATED), history=h))
    assert [s for _, s in got] == pytest.approx([0.8, 0.5])


def test_for_you_needs_a_history() -> None:
    assert take("for_you", Context(model=model(related=RELATED))) == []
    h = history((1, "view", "zzz"))
    assert take("for_you", Context(model=model(related=RELATED), history=h)) == []


def test_trained_model_serves_every_strategy() -> None:
    items = [Item(id=i, name=f"{i} mug", categories=["Home/Kitchen"]) for i in IDS]
    events = [Event(event_id=str(k), type="purchase", user_id=f"u{k % 2}",
                    items=[Line(id=IDS[k % 6]), Line(id=IDS[(k + 1) % 6])],
                    timestamp=float(k)) for k in range(12)]
    m = Model.from_bytes(fit_model(items, events).to_bytes())
    ctx = Context(model=m, seeds=["A"], history=history((1, "view", "B")),
                  filters=Filters(category="Home"))
    for name, strategy in STRATEGIES.items():
        got: Candidates = strategy(ctx)
        for iid, score in islice(got, 10):
            assert iid in m.index and isinstance(score, float), name
