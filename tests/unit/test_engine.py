"""The pod engine over a tiny fitted model and a memory:// catalog, against results
worked out by hand."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator, Sequence
from itertools import count

import numpy as np
import pytest

from endcap.catalog.model import Item
from endcap.events.model import Event, Line
from endcap.pods import engine
from endcap.pods.engine import Result, recommend
from endcap.pods.model import Filters, Pod, Rules, StrategyName
from endcap.store.url import open_store
from endcap.strategies.base import Context
from endcap.strategies.registry import STRATEGIES
from endcap.stream.history import ShopperHistory
from endcap.train.fit import fit_model
from endcap.train.model import Model, Neighbours

TENANT = "shop"
T0 = 1_700_000_000.0

#: The catalog. First categories: A, B, F "Home/Kitchen"; C "Home/Bath"; D, E "Garden";
#: G "Toys"; H none.
ITEMS = [
    Item(id="A", name="apron", price=10.0, categories=["Home/Kitchen"], brand="Acme",
         facets={"color": "red"}),
    Item(id="B", name="bowl", price=20.0, categories=["Home/Kitchen", "Garden"], brand="Acme",
         facets={"color": "blue"}),
    Item(id="C", name="curtain", price=30.0, categories=["Home/Bath"], brand="Bolt",
         facets={"color": "red"}),
    Item(id="D", name="digger", price=40.0, categories=["Garden"], brand="Bolt",
         in_stock=False),
    Item(id="E", name="easel", price=50.0, categories=["Garden/Tools"], brand="ACME",
         facets={"color": ["green", "red"]}),
    Item(id="F", name="fork", price=60.0, categories=["Home/Kitchen"], brand="Bolt"),
    Item(id="G", name="game", categories=["Toys"]),
    Item(id="H", name="hat", price=15.0),
]
IDS = [it.id for it in ITEMS]
#: Purchases per item, all at T0 by different shoppers, one unit each: a purchase line
#: weighs 1 * (1 + ln 1) * 2^0 = 1, so the bestseller scores are exactly these counts
#: and the bestseller order is A B C D E F G (H, never sold, is not a bestseller).
SALES = {"A": 7, "B": 6, "C": 5, "D": 4, "E": 3, "F": 2, "G": 1}


def _events() -> list[Event]:
    buyers = [iid for iid, times in SALES.items() for _ in range(times)]
    return [Event(event_id=f"p{k}", type="purchase", user_id=f"u{k}", items=[Line(id=iid)],
                  timestamp=T0) for k, iid in enumerate(buyers)]


MODEL = fit_model(ITEMS, _events(), version="v1", now=T0)


def with_alternatives(rows: dict[str, list[tuple[str, float]]]) -> Model:
    """MODEL with its alternatives replaced by ``rows``."""
    nb = Neighbours.empty(len(IDS), 3)
    for iid, row in rows.items():
        for j, (other, score) in enumerate(row):
            nb.idx[IDS.index(iid), j] = IDS.index(other)
            nb.score[IDS.index(iid), j] = score
    return dataclasses.replace(MODEL, alternatives=nb)


def history(*entries: tuple[float, str, str]) -> ShopperHistory:
    h = ShopperHistory()
    for k, (t, kind, iid) in enumerate(entries):
        if kind == "purchase":
            h.apply(Event(event_id=f"h{k}", type="purchase", user_id="me",
                          items=[Line(id=iid)], timestamp=t))
        else:
            h.apply(Event(event_id=f"h{k}", type=kind, user_id="me",  # type: ignore[arg-type]
                          item_id=iid, timestamp=t))
    return h


def pod(strategy: StrategyName | list[StrategyName], *, rules: Rules | None = None,
        allow_repurchase: bool = False) -> Pod:
    return Pod(id="p", strategy=strategy, rules=rules or Rules(),
               allow_repurchase=allow_repurchase)


def run(p: Pod, ctx: Context, num_results: int = 10, exclude: Sequence[str] = (),
        deleted: Sequence[str] = ()) -> list[Result]:
    async def go() -> list[Result]:
        store = open_store("memory://")
        try:
            await store.upsert_items(TENANT, ITEMS)
            for iid in deleted:
                assert await store.delete_item(TENANT, iid)
            return await recommend(store, TENANT, p, ctx, num_results, set(exclude))
        finally:
            await store.close()

    return asyncio.run(go())


def got(results: list[Result]) -> list[tuple[str, str]]:
    return [(r.item.id, r.strategy) for r in results]


def ids(results: list[Result]) -> list[str]:
    return [r.item.id for r in results]


# -- the model these tests stand on -----------------------------------------------------


def test_the_fitted_model_ranks_bestsellers_by_sales() -> None:
    assert [IDS[i] for i in MODEL.bestseller_order] == list("ABCDEFG")
    assert MODEL.bestsellers.tolist() == [7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0]


# -- the chain ----------------------------------------------------------------------------


def test_one_strategy_fills_in_its_order_with_its_scores() -> None:
    res = run(pod("bestsellers"), Context(model=MODEL), 3)
    assert got(res) == [("A", "bestsellers"), ("B", "bestsellers"), ("C", "bestsellers")]
    assert [r.score for r in res] == [7.0, 6.0, 5.0]
    assert all(isinstance(r.item, Item) and r.item == ITEMS[IDS.index(r.item.id)]
               for r in res)


def test_fallbacks_fill_the_rest_without_duplicates_labelled_by_strategy() -> None:
    m = with_alternatives({"A": [("C", 0.9), ("E", 0.5)]})
    ctx = Context(model=m, seeds=["A"])
    res = run(pod(["alternative_items", "bestsellers"]), ctx, 4)
    # Alternatives of A: C, E; then bestsellers A (the seed), B, C (taken), D.
    assert got(res) == [("C", "alternative_items"), ("E", "alternative_items"),
                        ("B", "bestsellers"), ("D", "bestsellers")]
    assert [r.score for r in res] == pytest.approx([0.9, 0.5, 6.0, 4.0])


def test_a_full_first_strategy_leaves_the_fallbacks_unused() -> None:
    m = with_alternatives({"A": [("C", 0.9), ("E", 0.5)]})
    res = run(pod(["alternative_items", "bestsellers"]), Context(model=m, seeds=["A"]), 2)
    assert got(res) == [("C", "alternative_items"), ("E", "alternative_items")]


def test_every_item_appears_once_across_three_strategies() -> None:
    h = history((1.0, "view", "G"), (2.0, "view", "H"), (3.0, "view", "G"))
    ctx = Context(model=MODEL, history=h)
    res = run(pod(["recently_viewed", "bestsellers", "filtered_items"]), ctx, 20)
    # Recently viewed: G (newest), H; bestsellers A-F (G taken); filtered_items offers
    # A-G again and the unsold H, all taken: 8 items, the catalog, each once.
    assert got(res) == [("G", "recently_viewed"), ("H", "recently_viewed")] + [
        (i, "bestsellers") for i in "ABCDEF"]
    assert [r.score for r in res[:2]] == [1.0, 0.5]


def test_filtered_items_reach_the_unsold_tail() -> None:
    res = run(pod(["bestsellers", "filtered_items"]), Context(model=MODEL), 8)
    assert got(res) == [(i, "bestsellers") for i in "ABCDEFG"] + [("H", "filtered_items")]
    assert res[-1].score == 0.0


def test_a_strategy_yielding_the_same_item_twice_gives_it_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def echo(ctx: Context) -> Iterator[tuple[str, float]]:
        yield from [("B", 3.0), ("B", 2.0), ("C", 1.0), ("B", 0.5)]

    monkeypatch.setitem(STRATEGIES, "trending", echo)
    assert got(run(pod("trending"), Context(model=MODEL), 5)) == [
        ("B", "trending"), ("C", "trending")]


# -- num_results --------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 7])
def test_num_results_is_respected(n: int) -> None:
    assert ids(run(pod("bestsellers"), Context(model=MODEL), n)) == list("ABCDEFG")[:n]


def test_fewer_candidates_than_asked_gives_what_there_is() -> None:
    assert ids(run(pod("bestsellers"), Context(model=MODEL), 50)) == list("ABCDEFG")


def test_the_engine_pulls_candidates_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    pulled = []

    def endless(ctx: Context) -> Iterator[tuple[str, float]]:
        for k in count():
            pulled.append(k)
            yield IDS[k % len(IDS)], 1.0

    monkeypatch.setitem(STRATEGIES, "trending", endless)
    assert ids(run(pod("trending"), Context(model=MODEL), 2)) == ["A", "B"]
    # One chunk of max(2 * 2, 16) candidates is enough.
    assert len(pulled) <= 16


def test_a_strategy_offering_only_unknown_items_is_given_up(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pulled = []

    def junk(ctx: Context) -> Iterator[tuple[str, float]]:
        for k in count():
            pulled.append(k)
            yield f"gone{k}", 1.0

    monkeypatch.setitem(STRATEGIES, "trending", junk)
    res = run(pod(["trending", "bestsellers"]), Context(model=MODEL), 2)
    assert got(res) == [("A", "bestsellers"), ("B", "bestsellers")]
    assert engine.MAX_SCAN <= len(pulled) < engine.MAX_SCAN + 64


# -- pins -------------------------------------------------------------------------------


def test_pins_come_first_in_pin_order() -> None:
    rules = Rules(pin=["G", "zzz", "C"])  # zzz is not in the catalog
    res = run(pod("bestsellers", rules=rules), Context(model=MODEL), 4)
    assert got(res) == [("G", "pinned"), ("C", "pinned"), ("A", "bestsellers"),
                        ("B", "bestsellers")]
    assert [r.score for r in res[:2]] == [0.0, 0.0]


def test_pins_must_pass_the_filters() -> None:
    rules = Rules(pin=["D", "G", "A"])  # D is out of stock
    ctx = Context(model=MODEL, filters=Filters(in_stock=True))
    res = run(pod("bestsellers", rules=rules), ctx, 4)
    assert got(res) == [("G", "pinned"), ("A", "pinned"), ("B", "bestsellers"),
                        ("C", "bestsellers")]


def test_pins_beyond_num_results_are_cut() -> None:
    res = run(pod("bestsellers", rules=Rules(pin=["G", "F", "E"])), Context(model=MODEL), 2)
    assert got(res) == [("G", "pinned"), ("F", "pinned")]


def test_pins_are_not_repeated_and_obey_the_exclusions() -> None:
    rules = Rules(pin=["B", "B", "C", "D", "E"], exclude=["C"])
    ctx = Context(model=MODEL, seeds=["D"], history=history((1.0, "purchase", "E")))
    res = run(pod("bestsellers", rules=rules), ctx, 4)
    # Pins: B once; C excluded by the rules, D a seed, E bought. Then A, F, G.
    assert got(res) == [("B", "pinned"), ("A", "bestsellers"), ("F", "bestsellers"),
                        ("G", "bestsellers")]


# -- exclusions -------------------------------------------------------------------------


def test_seeds_request_excludes_and_rule_excludes_are_never_returned() -> None:
    ctx = Context(model=MODEL, seeds=["A"])
    res = run(pod(["bestsellers", "filtered_items"], rules=Rules(exclude=["C", "G"])), ctx,
              20, exclude=["B", "nope"])
    assert ids(res) == ["D", "E", "F", "H"]


def test_recently_viewed_seeds_and_excludes_are_dropped_too() -> None:
    h = history((1.0, "view", "A"), (2.0, "view", "B"), (3.0, "view", "C"),
                (4.0, "view", "D"), (5.0, "view", "E"))
    ctx = Context(model=None, seeds=["E"], history=h)
    res = run(pod("recently_viewed", rules=Rules(exclude=["C"])), ctx, 10, exclude=["B"])
    assert got(res) == [("D", "recently_viewed"), ("A", "recently_viewed")]


def test_bought_items_are_excluded_unless_repurchase_is_allowed() -> None:
    h = history((1.0, "purchase", "A"), (2.0, "purchase", "C"))
    ctx = Context(model=MODEL, history=h)
    assert ids(run(pod("bestsellers"), ctx, 3)) == ["B", "D", "E"]
    ctx = Context(model=MODEL, history=h, exclude_bought=False)
    assert ids(run(pod("bestsellers", allow_repurchase=True), ctx, 3)) == ["A", "B", "C"]


def test_an_item_bought_then_viewed_again_is_still_excluded_from_a_no_repurchase_pod() -> None:
    # recently_viewed offers A again (viewed after the purchase); the pod hides purchases.
    h = history((1.0, "purchase", "A"), (2.0, "view", "A"), (3.0, "view", "B"))
    ctx = Context(model=None, history=h)
    assert ids(run(pod("recently_viewed"), ctx)) == ["B"]
    ctx = Context(model=None, history=h, exclude_bought=False)
    assert ids(run(pod("recently_viewed", allow_repurchase=True), ctx)) == ["B", "A"]


# -- filters ----------------------------------------------------------------------------


@pytest.mark.parametrize(("filters", "expected"), [
    (Filters(category="Home"), "ABCF"),
    (Filters(category="/Home/Kitchen/"), "ABF"),
    (Filters(category="Garden"), "BDE"),           # B's second category counts
    (Filters(category="Garden/Tools"), "E"),
    (Filters(category="Hom"), ""),                 # a prefix of a level is no match
    (Filters(price_min=20.0, price_max=40.0), "BCD"),  # bounds included; G has no price
    (Filters(price_max=15.0), "AH"),
    (Filters(price_min=45.0), "EF"),
    (Filters(in_stock=True), "ABCEFGH"),
    (Filters(in_stock=False), "D"),
    (Filters(brand="acme"), "ABE"),                # brand compared case-insensitively
    (Filters(facets={"color": "red"}), "ACE"),     # E: one of its values
    (Filters(facets={"color": "green"}), "E"),
    (Filters(facets={"size": "L"}), ""),
    (Filters(category="Home", brand="Bolt", in_stock=True), "CF"),
    (Filters(brand="Acme", price_min=15.0, facets={"color": "red"}), "E"),
])
def test_filters_are_applied(filters: Filters, expected: str) -> None:
    # filtered_items offers every item, most sold first, the unsold H last.
    res = run(pod("filtered_items"), Context(model=MODEL, filters=filters), 20)
    assert ids(res) == list(expected)
    assert all(r.strategy == "filtered_items" for r in res)


def test_filters_apply_to_every_strategy_of_the_chain() -> None:
    h = history((1.0, "view", "D"), (2.0, "view", "C"))
    ctx = Context(model=MODEL, history=h, filters=Filters(in_stock=True, price_max=35.0))
    res = run(pod(["recently_viewed", "bestsellers"]), ctx, 10)
    # D is out of stock; E, F cost too much; G has no price.
    assert got(res) == [("C", "recently_viewed"), ("A", "bestsellers"), ("B", "bestsellers")]


# -- max_per_category ---------------------------------------------------------------------


def test_max_per_category_caps_each_first_category() -> None:
    ctx = Context(model=MODEL)
    res = run(pod("filtered_items", rules=Rules(max_per_category=1)), ctx, 20)
    # Home/Kitchen: A (B, F skipped); Home/Bath: C; Garden: D; Garden/Tools: E (its own
    # first category); Toys: G; no category: H.
    assert ids(res) == list("ACDEGH")
    res = run(pod("filtered_items", rules=Rules(max_per_category=2)), ctx, 20)
    assert ids(res) == list("ABCDEGH")


def test_max_per_category_counts_only_the_first_category() -> None:
    # B's second category is Garden, which does not count against Garden's cap.
    ctx = Context(model=MODEL, filters=Filters(category="Garden"))
    res = run(pod("filtered_items", rules=Rules(max_per_category=1)), ctx, 20)
    assert ids(res) == list("BDE")


def test_max_per_category_counts_pins_and_spans_the_chain() -> None:
    h = history((1.0, "view", "B"))
    ctx = Context(model=MODEL, history=h)
    rules = Rules(pin=["F"], max_per_category=1)
    res = run(pod(["recently_viewed", "bestsellers"], rules=rules), ctx, 4)
    # F (Home/Kitchen) pinned fills its category: B and A are skipped.
    assert got(res) == [("F", "pinned"), ("C", "bestsellers"), ("D", "bestsellers"),
                        ("E", "bestsellers")]


def test_a_capped_item_does_not_stop_later_items() -> None:
    res = run(pod("bestsellers", rules=Rules(max_per_category=1)), Context(model=MODEL), 3)
    assert ids(res) == ["A", "C", "D"]


# -- no model ---------------------------------------------------------------------------


def test_without_a_model_recently_viewed_still_serves() -> None:
    h = history((1.0, "view", "C"), (2.0, "click", "A"), (3.0, "view", "C"))
    ctx = Context(model=None, seeds=["B"], history=h)
    chain: list[StrategyName] = ["bestsellers", "alternative_items", "recently_viewed",
                                 "for_you", "trending"]
    res = run(pod(chain), ctx, 5)
    assert got(res) == [("C", "recently_viewed"), ("A", "recently_viewed")]
    assert [r.score for r in res] == [1.0, 0.5]


@pytest.mark.parametrize("name", sorted(set(STRATEGIES) - {"recently_viewed"}))
def test_without_a_model_model_strategies_return_nothing(name: StrategyName) -> None:
    h = history((1.0, "view", "C"), (2.0, "purchase", "A"))
    assert run(pod(name), Context(model=None, seeds=["B"], history=h), 5) == []


def test_without_a_model_pins_still_serve() -> None:
    res = run(pod("bestsellers", rules=Rules(pin=["E"])), Context(model=None), 3)
    assert got(res) == [("E", "pinned")]


# -- items gone from the catalog --------------------------------------------------------


def test_items_deleted_after_training_are_skipped() -> None:
    res = run(pod("bestsellers", rules=Rules(pin=["D", "G"])), Context(model=MODEL), 4,
              deleted=["B", "D"])
    # Pinned D is gone: G pinned; then bestsellers A, (B gone), C, (D gone), E.
    assert got(res) == [("G", "pinned"), ("A", "bestsellers"), ("C", "bestsellers"),
                        ("E", "bestsellers")]


def test_deleted_items_are_skipped_by_every_strategy() -> None:
    m = with_alternatives({"A": [("B", 0.9), ("C", 0.5), ("H", 0.1)]})
    h = history((1.0, "view", "H"), (2.0, "view", "F"))
    ctx = Context(model=m, seeds=["A"], history=h)
    res = run(pod(["recently_viewed", "alternative_items"]), ctx, 10, deleted=["F", "B"])
    assert got(res) == [("H", "recently_viewed"), ("C", "alternative_items")]


def test_an_empty_model_serves_nothing_but_recently_viewed() -> None:
    empty = fit_model([], [], version="empty", now=T0)
    assert empty.item_ids == []
    h = history((1.0, "view", "A"))
    ctx = Context(model=empty, seeds=["A"], history=h)
    chain: list[StrategyName] = ["bestsellers", "trending", "alternative_items",
                                 "complementary_items", "for_you", "filtered_items",
                                 "recently_viewed"]
    assert got(run(pod(chain), Context(model=empty, history=h), 5)) == [
        ("A", "recently_viewed")]
    assert run(pod(chain[:-1]), ctx, 5) == []
    assert np.asarray(empty.bestseller_order).size == 0
