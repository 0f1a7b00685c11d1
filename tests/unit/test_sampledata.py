"""The bundled online-retail shop and the synthetic shop generator."""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import math
import random
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from endcap.catalog.model import Item
from endcap.events.model import Event
from endcap.events.validate import check_event
from endcap.sampledata import SampleShop, read_shop, write_shop
from endcap.sampledata.online_retail import (
    categories_of,
    colour_of,
    find_data_dir,
    load_online_retail,
)
from endcap.sampledata.synthetic import DEFAULT_START, generate_shop

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "online-retail"
#: Five-digit codes that are services, by their only description (see the data README).
SERVICES = {"23444", "23574", "23702"}


def _assert_schema_valid(events: list[Event], items: list[Item]) -> None:
    """Every event passes check_event and survives the API's JSON decoding (limits too)."""
    problems = [(e.event_id, p) for e in events if (p := check_event(e)) is not None]
    assert problems == []
    decoded = msgspec.json.decode(msgspec.json.encode(events), type=list[Event])
    assert decoded == events
    assert msgspec.json.decode(msgspec.json.encode(items), type=list[Item]) == items


def _assert_sorted(events: list[Event]) -> None:
    keys = [(e.timestamp, e.event_id) for e in events]
    assert keys == sorted(keys)


# --------------------------------------------------------------------------- online retail


@dataclass
class Truth:
    """What a plain pass over the CSV says, computed without the loader's code."""

    rows: int = 0
    raw_codes: set[str] = field(default_factory=set)
    raw_customers: set[str] = field(default_factory=set)
    raw_invoices: set[str] = field(default_factory=set)
    sale_codes: set[str] = field(default_factory=set)
    cancel_named_codes: set[str] = field(default_factory=set)
    invoice_codes: dict[str, dict[str, float]] = field(default_factory=dict)  # first price
    invoice_qty: Counter[tuple[str, str]] = field(default_factory=Counter)
    invoice_customer: dict[str, str] = field(default_factory=dict)
    prices: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sale_names: defaultdict[str, Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    raw_sale_revenue: float = 0.0


@pytest.fixture(scope="module")
def truth() -> Truth:
    t = Truth()
    for part in sorted(DATA_DIR.glob("online_retail.part-*.csv.gz")):
        with gzip.open(part, "rt", encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                t.rows += 1
                inv, code = row["InvoiceNo"], row["StockCode"]
                t.raw_codes.add(code)
                t.raw_invoices.add(inv)
                if row["CustomerID"]:
                    t.raw_customers.add(row["CustomerID"])
                code = code.upper()
                if not code[:5].isdigit() or code in SERVICES:
                    continue
                desc = row["Description"].strip()
                if inv[0] == "C":
                    if desc:
                        t.cancel_named_codes.add(code)
                    continue
                qty, price = int(row["Quantity"]), float(row["UnitPrice"])
                if inv[0] == "A" or qty <= 0 or price <= 0:
                    continue
                t.sale_codes.add(code)
                t.invoice_codes.setdefault(inv, {}).setdefault(code, price)
                t.invoice_qty[inv, code] += qty
                t.invoice_customer.setdefault(inv, row["CustomerID"])
                t.prices[code].append(price)
                if desc:
                    t.sale_names[code][desc] += 1
                t.raw_sale_revenue += qty * price
    return t


@pytest.fixture(scope="module")
def retail() -> SampleShop:
    return load_online_retail()


def test_raw_data_matches_source_md(truth: Truth) -> None:
    assert truth.rows == 541_909
    assert len(truth.raw_codes) == 4_070
    assert len(truth.raw_customers) == 4_372
    assert len(truth.raw_invoices) == 25_900


def test_default_location_and_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ENDCAP_SAMPLE_DATA", raising=False)
    assert find_data_dir() == DATA_DIR
    monkeypatch.setenv("ENDCAP_SAMPLE_DATA", str(DATA_DIR.parent))
    assert find_data_dir() == DATA_DIR
    monkeypatch.setenv("ENDCAP_SAMPLE_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError):
        find_data_dir()


def test_items_are_the_product_codes_sold_or_returned(truth: Truth, retail: SampleShop) -> None:
    ids = [i.id for i in retail.items]
    assert ids == sorted(ids)
    assert set(ids) == truth.sale_codes | truth.cancel_named_codes
    assert len(ids) == len(set(ids))
    by_id = {i.id: i for i in retail.items}
    for code, item in by_id.items():
        prices = truth.prices.get(code)
        assert item.price == (round(statistics.median(prices), 2) if prices else None)
        if code in truth.sale_names:
            assert item.name == truth.sale_names[code].most_common(1)[0][0]
        assert item.name and item.description.lower() == " ".join(item.name.split()).lower()
        assert item.currency == "GBP" and item.in_stock and item.brand == "" and item.url == ""
        assert (item.created_at is None) == (code not in truth.sale_codes)
        if item.created_at is not None:
            assert item.created_at.utcoffset() is not None
        assert item.categories
        derived = item.metadata["derived"]
        assert "categories" in derived
        assert ("facets.color" in derived) == ("color" in item.facets)


def test_events_match_an_independent_count(truth: Truth, retail: SampleShop) -> None:
    purchases = [e for e in retail.events if e.type == "purchase"]
    views = [e for e in retail.events if e.type == "view"]
    assert len(purchases) + len(views) == len(retail.events)
    assert len(purchases) == sum(math.ceil(len(c) / 1_000) for c in truth.invoice_codes.values())
    assert len({e.session_id for e in purchases}) == len(truth.invoice_codes)
    assert len(views) == sum(len(c) for c in truth.invoice_codes.values())
    customers = {c for c in truth.invoice_customer.values() if c}
    assert {e.user_id for e in retail.events if e.user_id is not None} == customers
    expected_revenue = sum(
        truth.invoice_qty[inv, code] * price
        for inv, codes in truth.invoice_codes.items()
        for code, price in codes.items()
    )
    revenue = sum(e.revenue or 0.0 for e in purchases)
    assert revenue == pytest.approx(expected_revenue, rel=1e-6)
    # Summing by code at the first price barely differs from summing the raw lines.
    assert revenue == pytest.approx(truth.raw_sale_revenue, rel=0.005)
    for e in purchases:
        assert e.items is not None
        assert e.revenue == round(sum(ln.quantity * (ln.price or 0) for ln in e.items), 2)
        inv = e.event_id.removeprefix("purchase-").split("-")[0]
        assert e.session_id == f"inv-{inv}"
        assert e.user_id == (truth.invoice_customer[inv] or None)
        for ln in e.items:
            assert ln.quantity == truth.invoice_qty[inv, ln.id]
            assert ln.price == truth.invoice_codes[inv][ln.id]


def test_events_are_valid_sorted_and_refer_to_items(retail: SampleShop) -> None:
    _assert_schema_valid(retail.events, retail.items)
    _assert_sorted(retail.events)
    ids = {i.id for i in retail.items}
    assert all(set(e.item_ids()) <= ids for e in retail.events)
    assert len({e.event_id for e in retail.events}) == len(retail.events)
    assert all(e.session_id is not None for e in retail.events)


def test_derived_views_precede_their_purchase_in_line_order(retail: SampleShop) -> None:
    purchase_ts: dict[str, float] = {}
    lines: dict[str, list[str]] = defaultdict(list)
    for e in retail.events:
        if e.type == "purchase":
            inv = e.event_id.removeprefix("purchase-").split("-")[0]
            purchase_ts.setdefault(inv, float(e.timestamp))  # type: ignore[arg-type]
            lines[inv].extend(ln.id for ln in e.items or [])
    views: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for e in retail.events:
        if e.type == "view":
            assert e.event_id.startswith("view-")
            inv = e.event_id.split("-")[1]
            assert e.event_id == f"view-{inv}-{e.item_id}"
            assert e.session_id == f"inv-{inv}"
            views[inv].append((float(e.timestamp), e.item_id or ""))  # type: ignore[arg-type]
    assert views.keys() == purchase_ts.keys()
    for inv, seen in views.items():
        assert [code for _, code in seen] == lines[inv]  # in line order (events are sorted)
        assert all(ts < purchase_ts[inv] for ts, _ in seen)
        assert purchase_ts[inv] - seen[0][0] <= 3_600


def test_readme_states_the_measured_counts(retail: SampleShop) -> None:
    readme = (DATA_DIR / "README.md").read_text(encoding="utf-8")
    table = {
        m[1]: int(m[2].replace(",", ""))
        for m in re.finditer(r"^\| ([^|]+?) \| ([\d,]+) \|$", readme, re.M)
    }
    purchases = [e for e in retail.events if e.type == "purchase"]
    assert table == {
        "items": len(retail.items),
        "items without a price (cancellations only)": sum(
            i.price is None for i in retail.items
        ),
        "items in `Other`": sum(i.categories == ["Other"] for i in retail.items),
        "items with a colour facet": sum("color" in i.facets for i in retail.items),
        "purchase events": len(purchases),
        "invoices with a purchase": len({e.session_id for e in purchases}),
        "view events (derived)": len(retail.events) - len(purchases),
        "events": len(retail.events),
        "customers (distinct `user_id`)": len({e.user_id for e in retail.events} - {None}),
        "anonymous purchase events": sum(e.user_id is None for e in purchases),
    }
    assert f"£{sum(e.revenue or 0 for e in purchases):,.2f}" in readme


def test_keyword_rules() -> None:
    assert categories_of("WHITE HANGING HEART T-LIGHT HOLDER") == [
        "Home/Candles", "Decor/Hanging Decorations",
    ]
    assert categories_of("JUMBO BAG RED RETROSPOT") == ["Fashion/Bags & Purses"]
    assert "Stationery/Wrapping" in categories_of("RED RETROSPOT GIFT BAG")
    assert "Fashion/Bags & Purses" not in categories_of("RED RETROSPOT GIFT BAG")
    assert categories_of("FLAG OF ST GEORGE") == ["Other"]
    assert colour_of("KNITTED UNION FLAG HOT WATER BOTTLE") is None
    assert colour_of("PINK/BLUE FUSCHIA HEART") == "pink"
    assert colour_of("FUSCHIA TABLE RUN FLOWER") == "fuchsia"


def test_loads_a_single_csv_file(tmp_path: Path) -> None:
    f = tmp_path / "tiny.csv"
    f.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "1,10002a,RED BALL ,2,2011-01-01 10:00:00,1.5,123,UK\n"
        "1,10002A,RED BALL,1,2011-01-01 10:00:00,2.5,123,UK\n"
        "1,POST,POSTAGE,1,2011-01-01 10:00:00,18,123,UK\n"
        "2,20000,,1,2011-01-02 10:00:00,3.0,,UK\n"
        "C3,20000,BLUE CUP,-1,2011-01-03 10:00:00,3.0,,UK\n"
        "4,30000,check,5,2011-01-04 10:00:00,0,,UK\n",
        encoding="utf-8",
    )
    shop = load_online_retail(f)
    assert [(i.id, i.name, i.price) for i in shop.items] == [
        ("10002A", "RED BALL", 2.0), ("20000", "BLUE CUP", 3.0),
    ]
    assert [e.event_id for e in shop.events] == [
        "view-1-10002A", "purchase-1", "view-2-20000", "purchase-2",
    ]
    p1 = shop.events[1]
    assert p1.items is not None and p1.items[0].quantity == 3 and p1.items[0].price == 1.5
    assert p1.revenue == 4.5 and p1.user_id == "123" and p1.timestamp == 1293876000.0
    assert shop.events[3].user_id is None and shop.events[3].session_id == "inv-2"


# ------------------------------------------------------------------------------ synthetic

N_ITEMS, N_SHOPPERS, N_EVENTS = 2_000, 3_000, 100_000


@pytest.fixture(scope="module")
def synth() -> SampleShop:
    return generate_shop(N_ITEMS, N_SHOPPERS, N_EVENTS, seed=7)


def _encode(shop: SampleShop) -> tuple[bytes, bytes]:
    return msgspec.json.encode(shop.items), msgspec.json.encode(shop.events)


def test_generator_is_deterministic() -> None:
    a = generate_shop(300, 200, 5_000, seed=1)
    b = generate_shop(300, 200, 5_000, seed=1)
    c = generate_shop(300, 200, 5_000, seed=2)
    assert _encode(a) == _encode(b) and a.description == b.description
    assert _encode(a)[0] != _encode(c)[0]
    assert _encode(a)[1] != _encode(c)[1]


def test_generator_sizes_and_ids(synth: SampleShop) -> None:
    assert len(synth.items) == N_ITEMS
    assert len(synth.events) == N_EVENTS
    assert len({i.id for i in synth.items}) == N_ITEMS
    assert len({e.event_id for e in synth.events}) == N_EVENTS
    assert all(e.event_id.startswith("syn-7-") for e in synth.events)
    assert all(e.session_id is not None for e in synth.events)
    users = {e.user_id for e in synth.events} - {None}
    assert 0.5 * N_SHOPPERS < len(users) < 0.7 * N_SHOPPERS
    assert {e.type for e in synth.events} == {
        "view", "click", "add_to_cart", "purchase", "search",
    }
    for n_events in (0, 1, 37):
        assert len(generate_shop(5, 3, n_events).events) == n_events


def test_generator_events_are_valid(synth: SampleShop) -> None:
    _assert_schema_valid(synth.events, synth.items)
    _assert_sorted(synth.events)
    by_id = {i.id: i for i in synth.items}
    end = DEFAULT_START + 30 * 86_400
    for e in synth.events:
        assert DEFAULT_START <= float(e.timestamp) < end  # type: ignore[arg-type]
        assert set(e.item_ids()) <= by_id.keys()
        if e.type == "purchase":
            assert e.items is not None
            assert all(ln.price == by_id[ln.id].price for ln in e.items)
            assert all(by_id[ln.id].in_stock for ln in e.items)
            assert e.revenue == round(sum(ln.quantity * (ln.price or 0) for ln in e.items), 2)


def test_generator_catalog_structure(synth: SampleShop) -> None:
    cats = Counter(i.categories[0] for i in synth.items)
    assert len(cats) == 40 and len({c.split("/")[0] for c in cats}) == 8
    brands = Counter(i.brand for i in synth.items)
    assert len(brands) <= N_ITEMS // 20
    top = sum(n for _, n in brands.most_common(len(brands) // 10))
    assert top > 0.3 * N_ITEMS  # Zipf brands: the top 10% make a large share
    assert 0.85 < sum(i.in_stock for i in synth.items) / N_ITEMS < 0.99
    assert all(i.price and i.price > 0 and "color" in i.facets for i in synth.items)
    assert any("size" in i.facets for i in synth.items)
    lines: defaultdict[str, list[Item]] = defaultdict(list)
    for i in synth.items:
        if "line" in i.metadata:
            lines[i.metadata["line"]].append(i)
    assert lines and all(len(v) >= 2 for v in lines.values())
    for variants in lines.values():  # substitutes: same product in another colour
        assert len({(v.brand, v.categories[0]) for v in variants}) == 1
        assert len({v.name.rsplit(" ", 1)[0] for v in variants}) == 1
        assert len({v.facets["color"] for v in variants}) > 1


def test_generator_popularity_is_skewed(synth: SampleShop) -> None:
    views = Counter(e.item_id for e in synth.events if e.type == "view")
    top = sorted(views.values(), reverse=True)[: N_ITEMS // 10]
    assert sum(top) > 0.4 * sum(views.values())
    assert len(views) > 0.5 * N_ITEMS  # and a long tail


def test_generator_conversion_rate(synth: SampleShop) -> None:
    sessions = {e.session_id for e in synth.events}
    purchases = sum(e.type == "purchase" for e in synth.events)
    assert 0.03 <= purchases / len(sessions) <= 0.05


def test_generator_bundles_are_bought_together(synth: SampleShop) -> None:
    pair_count: Counter[tuple[str, str]] = Counter()
    for e in synth.events:
        if e.type == "purchase" and e.items:
            ids = sorted({ln.id for ln in e.items})
            pair_count.update(itertools.combinations(ids, 2))
    bundles: defaultdict[str, list[str]] = defaultdict(list)
    for i in synth.items:
        if "bundle" in i.metadata:
            bundles[i.metadata["bundle"]].append(i.id)
    bundle_pairs = [p for ids in bundles.values() for p in itertools.combinations(sorted(ids), 2)]
    rng = random.Random(0)
    ids = [i.id for i in synth.items]
    random_pairs: list[tuple[str, str]] = []
    for _ in bundle_pairs:
        a, b = sorted(rng.sample(ids, 2))
        random_pairs.append((a, b))
    in_bundles = sum(pair_count[p] for p in bundle_pairs)
    at_random = sum(pair_count[p] for p in random_pairs)
    assert in_bundles > 10 * (at_random + 5)
    # Bundles cross categories (a phone with its case), not just one sub-category.
    cat = {i.id: i.categories[0] for i in synth.items}
    assert sum(cat[a] != cat[b] for a, b in bundle_pairs) > 0.3 * len(bundle_pairs)


def test_generator_sessions_stay_in_a_subcategory(synth: SampleShop) -> None:
    cat = {i.id: i.categories[0] for i in synth.items}
    per_session: defaultdict[str, list[str]] = defaultdict(list)
    last: dict[str, float] = {}
    for e in synth.events:
        assert e.session_id is not None
        ts = float(e.timestamp)  # type: ignore[arg-type]
        assert ts > last.get(e.session_id, -1.0)  # increasing within a session
        last[e.session_id] = ts
        if e.type == "view" and e.item_id:
            per_session[e.session_id].append(cat[e.item_id])
    shares = [
        Counter(c).most_common(1)[0][1] / len(c) for c in per_session.values() if len(c) >= 3
    ]
    assert statistics.mean(shares) > 0.7


def test_write_and_read_shop(tmp_path: Path) -> None:
    shop = generate_shop(50, 20, 500, seed=3)
    items_path, events_path = write_shop(shop, tmp_path / "out")
    lines = events_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 500 and len(items_path.read_text().splitlines()) == 50
    first: dict[str, Any] = json.loads(lines[0])
    assert isinstance(first["timestamp"], float) and "items" not in first
    back = read_shop(tmp_path / "out")
    assert back.items == shop.items and back.events == shop.events
