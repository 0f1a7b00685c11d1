"""Boost and bury rules, over the same hand-built shop as test_engine: bestseller scores
are exactly the sales counts A 7, B 6, C 5, D 4, E 3, F 2, G 1."""

from __future__ import annotations

import msgspec
import pytest

from endcap.pods.model import Boost, Filters, Pod, Rules
from endcap.strategies.base import Context
from tests.unit.test_engine import MODEL, got, pod, run


def boosted(*boosts: Boost, **kw: object) -> list[tuple[str, float, str]]:
    results = run(pod(["bestsellers", "filtered_items"], rules=Rules(boost=list(boosts))),
                  Context(model=MODEL), **kw)  # type: ignore[arg-type]
    return [(r.item.id, r.score, r.strategy) for r in results]


def test_boost_lifts_matching_items_by_their_factor() -> None:
    # Bolt items C 5, D 4, F 2 doubled: C 10, D 8, F 4 -> C D A B F E G
    out = boosted(Boost(filters=Filters(brand="bolt"), factor=2.0), num_results=7)
    assert [(i, s) for i, s, _ in out] == [("C", 10.0), ("D", 8.0), ("A", 7.0), ("B", 6.0),
                                            ("F", 4.0), ("E", 3.0), ("G", 1.0)]
    assert {st for _, _, st in out} == {"bestsellers"}


def test_bury_sinks_matching_items_and_factors_multiply() -> None:
    # Home/Kitchen (A, B, F) x 0.1 and red (A, C, E) x 0.5:
    # A 7*0.05=0.35, B 0.6, C 2.5, D 4, E 1.5, F 0.2, G 1 -> D C E G B A F
    out = boosted(Boost(filters=Filters(category="Home/Kitchen"), factor=0.1),
                  Boost(filters=Filters(facets={"color": "red"}), factor=0.5), num_results=7)
    assert [i for i, _, _ in out] == ["D", "C", "E", "G", "B", "A", "F"]
    assert [s for _, s, _ in out] == pytest.approx([4.0, 2.5, 1.5, 1.0, 0.6, 0.35, 0.2])


def test_boosts_never_let_in_what_the_filters_or_exclusions_keep_out() -> None:
    rules = Rules(boost=[Boost(filters=Filters(brand="bolt"), factor=100.0)],
                  exclude=["C"])
    p = Pod(id="p", strategy="bestsellers", rules=rules,
            filters=Filters(in_stock=True))  # D is out of stock
    results = run(p, Context(model=MODEL, filters=Filters(in_stock=True)), num_results=3)
    assert got(results) == [("F", "bestsellers"), ("A", "bestsellers"), ("B", "bestsellers")]


def test_boost_factor_is_validated() -> None:
    for bad in ({"filters": {}, "factor": 0}, {"filters": {}, "factor": -2},
                {"factor": 2}, {"filters": {"colour": "red"}, "factor": 2}):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, Boost)
