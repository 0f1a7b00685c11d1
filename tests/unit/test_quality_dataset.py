"""Reading and writing the canonical interaction format, and item files."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from endcap.catalog.model import Item
from endcap.quality.dataset import (
    SCHEMA,
    DatasetError,
    read_interactions,
    read_items,
    write_interactions,
    write_items,
)


def _csv(tmp_path: Path, text: str, name: str = "events.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _epoch(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def test_iso_and_epoch_timestamps(tmp_path: Path) -> None:
    rows = [
        ("2010-12-01 08:26:00", _epoch(2010, 12, 1, 8, 26)),  # naive means UTC
        ("2010-12-01T08:26:00Z", _epoch(2010, 12, 1, 8, 26)),
        ("2010-12-01T08:26:00.25+01:00", _epoch(2010, 12, 1, 7, 26) + 0.25),
        ("2010-12-01T08:26:00-0530", _epoch(2010, 12, 1, 13, 56)),
        ("2010-12-01T08:26", _epoch(2010, 12, 1, 8, 26)),
        ("2010-12-01", _epoch(2010, 12, 1)),
        ("964982703", 964982703.0),
        ("1396860669.277", 1396860669.277),
        (" 12 ", 12.0),
    ]
    body = "user_id,item_id,timestamp\n" + "".join(f"u,i{n},{t}\n" for n, (t, _) in
                                                   enumerate(rows))
    df = read_interactions(_csv(tmp_path, body))
    assert df["timestamp"].to_list() == pytest.approx([want for _, want in rows])


def test_schema_and_optional_columns(tmp_path: Path) -> None:
    df = read_interactions(_csv(tmp_path, "item_id,user_id,timestamp,extra\n007,17850,1,x\n"
                                          "8,u2,2,y\n"))
    assert df.columns == [*SCHEMA, "_row"]
    assert df.schema == pl.Schema({**SCHEMA, "_row": pl.UInt32()})
    assert df["item_id"].to_list() == ["007", "8"]  # ids stay text: leading zeros kept
    assert df["_row"].to_list() == [0, 1]
    assert df["type"].null_count() == df["price"].null_count() == 2

    full = read_interactions(_csv(tmp_path, "user_id,item_id,timestamp,type,session_id,"
                                            "quantity,price\nu,i,1,purchase,s,2,3.5\n"
                                            "u,j,2,,,,\n"))
    assert full.row(0) == ("u", "i", 1.0, "purchase", "s", 2.0, 3.5, 0)
    assert full.row(1) == ("u", "j", 2.0, None, None, None, None, 1)


def test_csv_gz_and_parquet_round_trip(tmp_path: Path) -> None:
    src = read_interactions(_csv(tmp_path, "user_id,item_id,timestamp,type,price\n"
                                           "u,i,2024-05-01T00:00:00Z,view,\nv,i,5.5,click,2\n"))
    for name in ("out.csv", "out.csv.gz", "out.parquet"):
        path = write_interactions(src, tmp_path / name)
        assert read_interactions(path).equals(src), name
    with gzip.open(tmp_path / "out.csv.gz", "rt") as f:
        assert f.readline().strip() == ",".join(SCHEMA)


def test_parquet_native_types(tmp_path: Path) -> None:
    plus2 = timezone(timedelta(hours=2))
    pl.DataFrame({
        "user_id": [17850.0, 3.0], "item_id": [1, 2],
        "timestamp": [datetime(2024, 1, 1, 2, 0, tzinfo=plus2),
                      datetime(2024, 1, 1, 1, 0, tzinfo=plus2)],
    }).write_parquet(tmp_path / "a.parquet")
    df = read_interactions(tmp_path / "a.parquet")
    assert df["user_id"].to_list() == ["17850", "3"]
    assert df["item_id"].to_list() == ["1", "2"]
    assert df["timestamp"].to_list() == [_epoch(2024, 1, 1), _epoch(2023, 12, 31, 23)]

    pl.DataFrame({"user_id": ["u"], "item_id": ["i"],
                  "timestamp": [datetime(2024, 1, 1)]}).write_parquet(tmp_path / "b.parquet")
    assert read_interactions(tmp_path / "b.parquet")["timestamp"][0] == _epoch(2024, 1, 1)


@pytest.mark.parametrize(("body", "row", "column", "words"), [
    ("user_id,timestamp\nu,1\n", None, None, "missing required column(s) item_id"),
    ("user_id,item_id,timestamp\nu,i,1\n,i,2\n", 2, "user_id", "empty id"),
    ("user_id,item_id,timestamp\nu,i,1\nu, ,2\n", 2, "item_id", "empty id"),
    ("user_id,item_id,timestamp\nu,i,1\nu,i,2010-13-01\n", 2, "timestamp", "not a timestamp"),
    ("user_id,item_id,timestamp\nu,i,yesterday\n", 1, "timestamp", "'yesterday'"),
    ("user_id,item_id,timestamp\nu,i,2010-12-01T24:00:00\n", 1, "timestamp", "not a timestamp"),
    ("user_id,item_id,timestamp\nu,i,\n", 1, "timestamp", "missing timestamp"),
    ("user_id,item_id,timestamp\nu,i,nan\n", 1, "timestamp", "not a timestamp"),
    ("user_id,item_id,timestamp,type\nu,i,1,view\nu,i,1,buy\nu,i,1,buy\n", 2, "type",
     "unknown type: use one of view, click, add_to_cart, purchase"),
    ("user_id,item_id,timestamp,quantity\nu,i,1,-1\n", 1, "quantity", "at least 0"),
    ("user_id,item_id,timestamp,price\nu,i,1,1\nu,i,1,cheap\n", 2, "price", "not a number"),
    ("user_id,item_id,timestamp,price\nu,i,1,inf\n", 1, "price", "finite"),
])
def test_errors_name_row_and_column(tmp_path: Path, body: str, row: int | None,
                                    column: str | None, words: str) -> None:
    with pytest.raises(DatasetError) as e:
        read_interactions(_csv(tmp_path, body))
    assert (e.value.row, e.value.column) == (row, column)
    assert words in str(e.value)
    if row is not None:
        assert f"row {row} (line {row + 1}), column {column!r}" in str(e.value)


def test_error_counts_the_other_bad_rows(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"row 2 .*\(got 'buy'\) \(1 more row like it\)"):
        read_interactions(_csv(tmp_path, "user_id,item_id,timestamp,type\nu,i,1,view\n"
                                         "u,i,1,buy\nu,i,1,buy\n"))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        read_interactions(tmp_path / "nothing.csv")
    with pytest.raises(DatasetError, match="unknown file type"):
        read_interactions(_csv(tmp_path, "x", "events.txt"))
    with pytest.raises(DatasetError, match="cannot read it as PARQUET"):
        read_interactions(_csv(tmp_path, "user_id,item_id,timestamp\n", "bad.parquet"))
    assert issubclass(DatasetError, ValueError)


def test_items_round_trip_and_errors(tmp_path: Path) -> None:
    items = [Item(id="a", name="A", price=2.5, categories=["X/Y"]),
             Item(id="b", facets={"attribute": ["1", "2"]})]
    assert read_items(write_items(items, tmp_path / "items.ndjson")) == items
    assert read_items(write_items(items, tmp_path / "items.ndjson.gz")) == items

    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"id": "a"}\n\n{"id": "b", "price": -1}\n')
    with pytest.raises(DatasetError, match=r"bad.ndjson: line 3: not an endcap item: .*>= 0"):
        read_items(bad)
    bad.write_text('{"id": "a"}\n{"id": "a"}\n')
    with pytest.raises(DatasetError, match="line 2: item id 'a' is already on line 1"):
        read_items(bad)
    bad.write_text('{"id": "a"\n')
    with pytest.raises(DatasetError, match="line 1"):
        read_items(bad)
    with pytest.raises(DatasetError, match=r"nothing\.ndjson"):
        read_items(tmp_path / "nothing.ndjson")
