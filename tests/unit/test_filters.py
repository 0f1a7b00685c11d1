from __future__ import annotations

import pytest

from endcap.catalog.model import Item, in_category
from endcap.errors import BadRequest
from endcap.pods.filters import narrow, parse_query_filters, predicate
from endcap.pods.model import Filters

MUG = Item(id="m", price=8.0, categories=["Home/Kitchen/Mugs"], brand="Acme",
           facets={"color": "red", "size": ["S", "M"]})
KNIFE = Item(id="k", price=30.0, categories=["Home/Kitchen/Knives"], brand="Sharp",
             in_stock=False)
NOPRICE = Item(id="n", categories=["Garden"])


def ok(f: Filters, item: Item) -> bool:
    test = predicate(f)
    return True if test is None else test(item)


def test_category_is_a_path_prefix() -> None:
    assert in_category(MUG, "Home") and in_category(MUG, "Home/Kitchen")
    assert in_category(MUG, "/Home/Kitchen/Mugs/")
    assert not in_category(MUG, "Home/Kit")  # a prefix of a level name is not a level
    assert not in_category(MUG, "Garden")


def test_each_filter() -> None:
    assert predicate(Filters()) is None
    assert ok(Filters(category="Home/Kitchen"), KNIFE)
    assert ok(Filters(brand="acme"), MUG) and not ok(Filters(brand="acme"), KNIFE)
    assert ok(Filters(price_min=8.0, price_max=8.0), MUG)
    assert not ok(Filters(price_max=10), KNIFE)
    assert not ok(Filters(price_max=10), NOPRICE)  # no price: fails a price filter
    assert not ok(Filters(in_stock=True), KNIFE) and ok(Filters(in_stock=False), KNIFE)
    assert ok(Filters(facets={"color": "red"}), MUG)
    assert ok(Filters(facets={"size": "M"}), MUG)  # list facets match any value
    assert not ok(Filters(facets={"size": "L"}), MUG)
    assert not ok(Filters(facets={"color": "red"}), KNIFE)
    assert not ok(Filters(category="Home", brand="Acme", price_min=9), MUG)


def test_request_narrows_pod() -> None:
    pod = Filters(category="Home", price_min=5, price_max=50, in_stock=True,
                  facets={"color": "red"})
    req = Filters(category="Home/Kitchen", price_min=2, price_max=20, facets={"size": "M"})
    f = narrow(pod, req)
    assert f == Filters(category="Home/Kitchen", price_min=5, price_max=20, in_stock=True,
                        facets={"color": "red", "size": "M"})


def test_parse_query_filters() -> None:
    f = parse_query_filters([("filters[category]", "Home"), ("filters[price_max]", "9.5"),
                             ("filters[in_stock]", "true"), ("filters[facet.color]", "red")])
    assert f == Filters(category="Home", price_max=9.5, in_stock=True,
                        facets={"color": "red"})


@pytest.mark.parametrize(("key", "value"), [
    ("filters[price_max]", "cheap"), ("filters[price_min]", "-1"),
    ("filters[in_stock]", "maybe"), ("filters[colour]", "red"), ("filters[facet.]", "x"),
])
def test_parse_query_filters_rejects(key: str, value: str) -> None:
    with pytest.raises(BadRequest) as e:
        parse_query_filters([(key, value)])
    assert e.value.details["field"] in (key, "filters")
