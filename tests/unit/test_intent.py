"""The free-text intent parser, against expectations written by hand."""

from __future__ import annotations

import time

import pytest

from endcap.catalog.model import Item
from endcap.pods.model import Filters
from endcap.semantic.intent import MAX_QUERY_CHARS, Intent, Vocabulary, parse_intent

VOCAB = Vocabulary(
    categories=[
        "Home/Kitchen/Mugs",
        "Home/Kitchen/Kitchen Knives",
        "Home/Lighting/Lamps",
        "Home/Candles",
        "Gifts",
        "Sports/Running/Shoes",
        "Clothing/Hoodies",
        "Home/Kitchen/Cutlery",
        "Outdoor/Cutlery",
        "Camping/Cutlery",
        "Home/Glass",
        "Home/Storage/Boxes",
        "Home/Batteries",
    ],
    brands=["Nike", "Under Armour", "Max", "Acme", "Acme Pro", "On"],
)


def p(query: str) -> Intent:
    return parse_intent(query, VOCAB)


def price(query: str) -> tuple[float | None, float | None]:
    f = p(query).filters
    return f.price_min, f.price_max


# --- the examples of the brief ----------------------------------------------------------


def test_the_worked_examples() -> None:
    i = p("gifts for a runner under 50")
    assert i.text == "gifts for a runner"
    assert i.filters == Filters(category="Gifts", price_max=50.0)
    assert i.matched == ("gifts", "under 50")

    i = p("red mug between £10 and 20")
    assert i.text == "red mug"
    assert i.filters == Filters(category="Home/Kitchen/Mugs", price_min=10.0, price_max=20.0)
    assert i.matched == ("mug", "between £10 and 20")

    i = p("nike shoes over $80")
    assert i.text == "nike shoes"
    assert i.filters == Filters(category="Sports/Running/Shoes", brand="Nike", price_min=80.0)
    assert i.matched == ("nike", "shoes", "over $80")

    i = p("kitchen knives below 30 euros")
    assert i.text == "kitchen knives"
    assert i.filters == Filters(category="Home/Kitchen/Kitchen Knives", price_max=30.0)
    assert i.matched == ("kitchen knives", "below 30 euros")

    i = p("lamps < 40")
    assert (i.text, i.filters) == ("lamps", Filters(category="Home/Lighting/Lamps", price_max=40.0))

    i = p("something like this mug but for a child")
    assert i.text == "something like this mug but for a child"
    assert i.filters == Filters(category="Home/Kitchen/Mugs")

    i = p("cheap candles")  # "cheap" names no amount: no price
    assert (i.text, i.filters) == ("cheap candles", Filters(category="Home/Candles"))


# --- prices -----------------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "mugs under 20", "mugs below 20", "mugs less than 20", "mugs cheaper than 20",
    "mugs up to 20", "mugs max 20", "mugs max. 20", "mugs maximum 20", "mugs at most 20",
    "mugs < 20", "mugs <20", "mugs <= 20", "mugs ≤ 20", "mugs no more than 20",
    "mugs 20 or less", "mugs 20 or under", "mugs £20 or less", "mugs UNDER 20",
])
def test_ceilings(query: str) -> None:
    i = p(query)
    assert (i.filters.price_min, i.filters.price_max) == (None, 20.0)
    assert i.text == "mugs"


@pytest.mark.parametrize("query", [
    "mugs over 20", "mugs above 20", "mugs more than 20", "mugs at least 20", "mugs min 20",
    "mugs minimum 20", "mugs from 20", "mugs > 20", "mugs >= 20", "mugs ≥20",
    "mugs 20 or more", "mugs no less than 20", "mugs 20 and up",
])
def test_floors(query: str) -> None:
    i = p(query)
    assert (i.filters.price_min, i.filters.price_max) == (20.0, None)
    assert i.text == "mugs"


@pytest.mark.parametrize("query", [
    "mugs between 10 and 20", "mugs between 10-20", "mugs 10-20", "mugs 10 - 20",
    "mugs 10–20", "mugs 10 to 20", "mugs from 10 to 20", "mugs from 10-20",
    "mugs between £10 and £20", "mugs £10-£20", "mugs 10-20 euros", "mugs between 20 and 10",
])
def test_ranges(query: str) -> None:
    i = p(query)
    assert (i.filters.price_min, i.filters.price_max) == (10.0, 20.0)
    assert i.text == "mugs"


def test_from_is_a_floor_only_outside_a_range() -> None:
    assert price("mugs from 15") == (15.0, None)
    assert price("mugs from 15 to 25") == (15.0, 25.0)


@pytest.mark.parametrize(("query", "amount"), [
    ("lamps under £40", 40.0), ("lamps under $40", 40.0), ("lamps under €40", 40.0),
    ("lamps under 40€", 40.0), ("lamps under 40 £", 40.0), ("lamps under gbp 40", 40.0),
    ("lamps under 40 GBP", 40.0), ("lamps under usd40", 40.0), ("lamps under 40 eur", 40.0),
    ("lamps under 40 pounds", 40.0), ("lamps under 40 dollars", 40.0),
    ("lamps under 40 euros", 40.0), ("lamps under £12.50", 12.5),
    ("lamps under 12.99 euros", 12.99), ("lamps under £1,250", 1250.0),
])
def test_currencies_and_decimals(query: str, amount: float) -> None:
    i = p(query)
    assert i.filters.price_max == amount
    assert i.text == "lamps"


def test_unicode_currency_is_kept_whole_in_the_phrase() -> None:
    i = p("€25 to €40 cutlery")
    assert i.filters.price_min == 25.0 and i.filters.price_max == 40.0
    assert i.matched[0] == "€25 to €40"
    assert i.text == "cutlery"


@pytest.mark.parametrize("query", [
    "size 10 shoes", "2 pack mugs", "mugs 20", "mug £20", "shoes size 8-10", "ages 3-5 gifts",
    "laptop stand under 2 kg", "lamps under 60 w", "over 18 years gifts", "batteries 2 x 4",
    "under 50k mugs", "mugs under 20% off", "mugs over 20cm", "gifts up to 4 players",
])
def test_numbers_without_a_price_cue_are_not_prices(query: str) -> None:
    i = p(query)
    assert (i.filters.price_min, i.filters.price_max) == (None, None)
    assert i.text == query


def test_both_bounds_and_several_phrases() -> None:
    i = p("mugs over 10 under 30")
    assert (i.filters.price_min, i.filters.price_max) == (10.0, 30.0)
    assert i.text == "mugs"
    assert i.matched == ("mugs", "over 10", "under 30")
    assert price("under 30 mugs under 20") == (None, 20.0)  # the tighter bound


def test_no_more_than_is_a_ceiling_and_no_less_than_a_floor() -> None:
    assert price("no more than 30") == (None, 30.0)
    assert price("not more than 30") == (None, 30.0)
    assert price("no less than 30") == (30.0, None)


def test_absurd_amounts_are_ignored() -> None:
    assert price("mugs under 99999999999999") == (None, None)


# --- the text left ----------------------------------------------------------------------


@pytest.mark.parametrize(("query", "text"), [
    ("mugs for under 20", "mugs"),
    ("mugs for under 20 with a handle", "mugs with a handle"),
    ("under 20, mugs", "mugs"),
    ("mugs, under 20, red", "mugs, red"),
    ("mugs with under 20", "mugs"),
    ("candles and under 20", "candles"),
    ("for under 20 a mug for dad", "a mug for dad"),
    ("red   mug   under 20", "red mug"),
])
def test_connectors_left_by_a_price_are_stripped(query: str, text: str) -> None:
    assert p(query).text == text


def test_connectors_stay_when_no_price_was_removed() -> None:
    assert p("mug for").text == "mug for"


def test_text_falls_back_to_the_query_when_all_of_it_was_consumed() -> None:
    i = p("under 50")
    assert (i.text, i.filters) == ("under 50", Filters(price_max=50.0))
    i = p("mugs")
    assert (i.text, i.filters) == ("mugs", Filters(category="Home/Kitchen/Mugs"))
    assert p("  for under 50 ").text == "for under 50"


def test_empty_query_is_an_error() -> None:
    for query in ("", "   ", "\n\t "):
        with pytest.raises(ValueError):
            p(query)


def test_long_query_is_cut_to_1000_characters_first() -> None:
    tail = " under 20"
    query = "mugs " + "x" * 2_000 + tail
    i = p(query)
    assert len(i.text) == MAX_QUERY_CHARS and i.text.startswith("mugs x")
    assert i.filters == Filters(category="Home/Kitchen/Mugs")  # the price lay past the cut
    near = "mugs " + "y " * 400 + "under 20"
    assert len(near) < MAX_QUERY_CHARS and p(near).filters.price_max == 20.0


# --- brands -----------------------------------------------------------------------------


def test_brand_wins_over_a_cue_word_followed_by_no_number() -> None:
    i = p("under armour hoodie")
    assert i.filters == Filters(brand="Under Armour", category="Clothing/Hoodies")
    assert i.text == "under armour hoodie"
    assert i.matched == ("under armour", "hoodie")
    i = p("Under Armour hoodie under 40")
    assert i.filters == Filters(brand="Under Armour", category="Clothing/Hoodies",
                                price_max=40.0)
    assert i.text == "Under Armour hoodie"


def test_a_cue_word_followed_by_a_number_is_a_price_even_if_a_brand() -> None:
    assert p("max 30 mugs").filters == Filters(category="Home/Kitchen/Mugs", price_max=30.0)
    assert p("Max mugs").filters == Filters(category="Home/Kitchen/Mugs", brand="Max")


def test_brand_is_the_longest_known_name_in_whole_words() -> None:
    assert p("acme pro mug").filters.brand == "Acme Pro"
    assert p("mug by ACME").filters.brand == "Acme"
    assert p("nikes and acmes").filters.brand is None
    assert p("nike mug from acme pro").filters.brand == "Acme Pro"


def test_one_or_two_letter_brands_must_be_written_as_in_the_catalog() -> None:
    assert p("On shoes").filters.brand == "On"
    assert p("shoes on sale").filters.brand is None


def test_brand_words_are_not_read_as_a_category() -> None:
    vocab = Vocabulary(["Fruit/Apples"], ["Apple"])
    i = parse_intent("apple watch", vocab)
    assert i.filters == Filters(brand="Apple")
    assert parse_intent("red apples", vocab).filters == Filters(category="Fruit/Apples")


# --- categories -------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "category"), [
    ("mug", "Home/Kitchen/Mugs"), ("MUGS", "Home/Kitchen/Mugs"),
    ("lamp", "Home/Lighting/Lamps"), ("a candle", "Home/Candles"), ("gift", "Gifts"),
    ("kitchen knife", "Home/Kitchen/Kitchen Knives"), ("box", "Home/Storage/Boxes"),
    ("battery", "Home/Batteries"), ("glasses", "Home/Glass"), ("hoodie", "Clothing/Hoodies"),
])
def test_singular_and_plural_match(query: str, category: str) -> None:
    assert p(query).filters.category == category


def test_category_needs_whole_words() -> None:
    assert p("mugshot").filters.category is None
    assert p("giftshop").filters.category is None


def test_a_segment_maps_to_its_shortest_path_then_alphabetical() -> None:
    # Cutlery is under Home/Kitchen, Outdoor and Camping: two levels beat three, and
    # Camping/Cutlery comes before Outdoor/Cutlery.
    assert p("cutlery").filters.category == "Camping/Cutlery"
    vocab = Vocabulary(["Home/Kitchen/Mugs", "Mugs/Travel"], [])
    assert parse_intent("mugs", vocab).filters.category == "Mugs"  # a prefix of a path


def test_the_longest_segment_wins() -> None:
    vocab = Vocabulary(["Home/Candles", "Gifts"], [])
    i = parse_intent("candles as gifts", vocab)  # longer beats fewer levels
    assert i.filters.category == "Home/Candles"
    assert i.matched == ("candles",)
    vocab = Vocabulary(["Home/Lighting/Lamps", "Gifts"], [])  # as long: fewer levels
    assert parse_intent("lamps as gifts", vocab).filters.category == "Gifts"


def test_a_path_covering_more_of_the_words_wins() -> None:
    vocab = Vocabulary(["Home/Kitchen/Knives", "Outdoor/Knives"], [])
    i = parse_intent("kitchen knives", vocab)
    assert i.filters.category == "Home/Kitchen/Knives"
    assert i.matched == ("kitchen", "knives")
    assert parse_intent("knives", vocab).filters.category == "Outdoor/Knives"


def test_exact_forms_beat_plural_forms() -> None:
    vocab = Vocabulary(["Home/Glass", "Fashion/Glasses"], [])
    assert parse_intent("glasses", vocab).filters.category == "Fashion/Glasses"
    assert parse_intent("glass", vocab).filters.category == "Home/Glass"


def test_category_words_inside_a_price_phrase_do_not_count() -> None:
    vocab = Vocabulary(["Pets/Under"], [])
    assert parse_intent("bowls under 10", vocab).filters == Filters(price_max=10.0)


def test_each_segment_is_reported_once() -> None:
    i = p("mug for the kitchen, a mug")
    assert i.filters.category == "Home/Kitchen/Mugs"
    assert i.matched == ("mug", "kitchen")


def test_apostrophes_and_case_folding() -> None:
    vocab = Vocabulary(["Fashion/Men's Shoes"], [])
    assert parse_intent("mens shoes", vocab).filters.category == "Fashion/Men's Shoes"
    assert parse_intent("MEN’S SHOE", vocab).filters.category == "Fashion/Men's Shoes"
    # "ß" folds to two letters: the places found must still be places in the query.
    i = p("Weißbier MUGS under 20")
    assert (i.text, i.filters.price_max, i.matched) == ("Weißbier MUGS", 20.0,
                                                         ("MUGS", "under 20"))


def test_unknown_words_match_nothing() -> None:
    i = p("a present for my dad")
    assert i.filters == Filters() and i.matched == () and i.text == "a present for my dad"


# --- the vocabulary ---------------------------------------------------------------------


def test_vocabulary_from_items() -> None:
    items = [
        Item(id="1", categories=["Home/Kitchen/Mugs", "/Gifts/"], brand="Acme "),
        Item(id="2", categories=["Home/Kitchen/Mugs"], brand="Zed"),
        Item(id="3", brand=""),
    ]
    vocab = Vocabulary.from_items(items)
    assert vocab.categories == ("Gifts", "Home/Kitchen/Mugs")
    assert vocab.brands == ("Acme", "Zed")
    assert parse_intent("zed mug", vocab).filters == Filters(
        category="Home/Kitchen/Mugs", brand="Zed")


def test_vocabulary_is_a_value() -> None:
    a = Vocabulary(["A/B"], ["X"])
    assert a == Vocabulary(("A/B",), ("X",)) and hash(a) == hash(Vocabulary(["A/B"], ["X"]))
    assert parse_intent("b under 3", Vocabulary([], [])).filters == Filters(price_max=3.0)


def test_parsing_is_cheap_for_a_large_vocabulary() -> None:
    """A loose sanity bound only: timings belong in the benchmarks."""
    categories = [f"Dept {d}/Aisle {d}-{a}/Shelf {d}-{a}-{s}"
                  for d in range(10) for a in range(10) for s in range(10)]
    brands = [f"Brand {b}" for b in range(500)]
    vocab = Vocabulary(categories, brands)
    assert parse_intent("shelf 3-4-5 brand 42 under 20", vocab).filters == Filters(
        category="Dept 3/Aisle 3-4/Shelf 3-4-5", brand="Brand 42", price_max=20.0)
    queries = ["gifts for a runner under 50", "red mug between £10 and 20",
               "brand 7 aisle 2-3 lamps over $80", "something like this mug but for a child"]
    start = time.perf_counter()
    for n in range(1_000):
        parse_intent(queries[n % len(queries)], vocab)
    assert time.perf_counter() - start < 1.0
