"""Leave-last-out and time splits of canonical frames."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from endcap.quality.dataset import canonical
from endcap.quality.split import Split, dedupe, leave_last_out, time_split, validation


def frame(*rows: tuple[str, str, float] | tuple[str, str, float, float]) -> pl.DataFrame:
    """A canonical frame of (user, item, timestamp[, price]) rows, in file order."""
    return canonical(pl.DataFrame(
        {"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows],
         "timestamp": [float(r[2]) for r in rows],
         "price": [r[3] if len(r) > 3 else None for r in rows]},
        schema_overrides={"price": pl.Float64}))


def relevant(split: Split) -> dict[str, list[str]]:
    """Each test user's relevant items, by id."""
    out: dict[str, list[str]] = {}
    for u, i in zip(split.test_user.tolist(), split.test_item.tolist(), strict=True):
        out.setdefault(split.users[u], []).append(split.items[i])
    return out


def train_of(split: Split) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for u, i in split.train.select("user_id", "item_id").iter_rows():
        out.setdefault(u, []).append(i)
    return out


def test_dedupe_keeps_the_first_occurrence() -> None:
    f = frame(("u", "a", 1), ("u", "b", 2), ("u", "a", 3), ("u", "c", 4), ("u", "b", 5))
    d = dedupe(f)
    assert d.select("item_id", "timestamp").rows() == [("a", 1.0), ("b", 2.0), ("c", 4.0)]
    # b's repeat is the latest row, but b was first had at t=2: c is the test item.
    s = leave_last_out(f)
    assert relevant(s) == {"u": ["c"]}
    assert train_of(s) == {"u": ["a", "b"]}


def test_dedupe_goes_by_time_not_file_order() -> None:
    f = frame(("u", "a", 9), ("u", "b", 2), ("u", "a", 1), ("u", "c", 5))
    assert dedupe(f).select("item_id", "timestamp").rows() == [
        ("a", 1.0), ("b", 2.0), ("c", 5.0)]
    assert relevant(leave_last_out(f)) == {"u": ["c"]}


def test_timestamp_ties_go_by_file_order() -> None:
    assert relevant(leave_last_out(frame(("u", "a", 5), ("u", "b", 5), ("u", "c", 1)))) == {
        "u": ["b"]}
    assert relevant(leave_last_out(frame(("u", "b", 5), ("u", "a", 5), ("u", "c", 1)))) == {
        "u": ["a"]}
    # A tied repeat: the first row in the file is the occurrence kept.
    d = dedupe(frame(("u", "a", 5, 1.0), ("u", "a", 5, 2.0)))
    assert d["price"].to_list() == [1.0]


def test_users_with_fewer_than_three_distinct_items_stay_in_train() -> None:
    f = frame(("u", "a", 1), ("u", "b", 2), ("u", "c", 3),
              ("v", "a", 1), ("v", "b", 2), ("v", "a", 3),  # two distinct items
              ("w", "c", 4))
    s = leave_last_out(f)
    assert relevant(s) == {"u": ["c"]}
    assert train_of(s) == {"u": ["a", "b"], "v": ["a", "b"], "w": ["c"]}
    assert len(s.train) + len(s.test_item) == len(dedupe(f))
    assert relevant(leave_last_out(f, min_items=2)) == {"u": ["c"], "v": ["b"]}


def test_a_test_item_is_not_in_its_users_train() -> None:
    f = frame(("u", "a", 1), ("u", "b", 2), ("u", "a", 3), ("u", "z", 4),
              ("v", "a", 1), ("v", "b", 2), ("v", "c", 3))
    s = leave_last_out(f)
    seen = s.seen()
    for u, i in zip(s.test_user.tolist(), s.test_item.tolist(), strict=True):
        assert seen[u, i] == 0
    # z is had by nobody in train: it keeps its code (and counts as an item) but no
    # training row, so no recommender can find it.
    z = s.items.index("z")
    assert s.n_items == 4 and seen[:, z].sum() == 0
    assert s.users == ["u", "v"] and s.items == ["a", "b", "c", "z"]  # first had, by time
    assert list(s.test_users) == [0, 1]


def test_test_price_is_the_items_median_known_price() -> None:
    f = frame(("u", "a", 1, 2.0), ("u", "b", 2), ("u", "c", 3, 4.0),
              ("v", "c", 1, 6.0), ("v", "a", 2), ("v", "b", 3), ("w", "c", 9, 0.0))
    s = leave_last_out(f)
    price = dict(zip(relevant(s), s.test_price.tolist(), strict=True))
    assert price["u"] == 5.0  # c: median of 4 and 6 (a 0 price is no price)
    assert np.isnan(price["v"])  # b: no price known


def test_validation_carves_the_same_way_from_train() -> None:
    f = frame(*((u, i, t) for u in "uv" for t, i in enumerate("abcd")))
    s = leave_last_out(f)
    v = validation(s)
    assert relevant(s) == {"u": ["d"], "v": ["d"]}
    assert relevant(v) == {"u": ["c"], "v": ["c"]}
    assert train_of(v) == {"u": ["a", "b"], "v": ["a", "b"]}
    assert (v.users, v.items) == (s.users, s.items)


def test_time_split() -> None:
    f = frame(("u", "a", 1), ("u", "b", 2), ("v", "a", 3), ("v", "c", 4), ("w", "b", 5),
              ("x", "d", 6), ("w", "c", 7), ("u", "a", 8), ("u", "d", 9), ("u", "c", 10),
              ("x", "c", 11), ("y", "a", 12))
    # 11 rows after dedupe (u's repeat of a goes); the 0.7 quantile ("lower") of their
    # times is t=9, so later rows are test: u's c, x's c, and y's a, but y has no
    # training row (a new user is not this protocol's problem).
    s = time_split(f, test_fraction=0.3)
    assert float(s.train["timestamp"].max()) == 9.0
    assert relevant(s) == {"u": ["c"], "x": ["c"]}
    assert "y" in s.users and s.n_users == 5

    several = time_split(f, test_fraction=0.5)
    assert float(several.train["timestamp"].max()) == 6.0
    assert relevant(several) == {"w": ["c"], "u": ["d", "c"], "x": ["c"]}
    assert np.array_equal(several.test_users, np.unique(several.test_user))


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_time_split_refuses_a_fraction_outside_0_1(fraction: float) -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        time_split(frame(("u", "a", 1)), test_fraction=fraction)
