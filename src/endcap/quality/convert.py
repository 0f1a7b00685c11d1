"""Converters from public data sets to the canonical interaction format and endcap items.

Each takes the directory of the data set as published (see ``../shared/data/*/SOURCE.md``
for the files) and returns ``(interactions, items)``: a canonical frame (see
:mod:`endcap.quality.dataset`) whose ``_row`` is the order of the source rows kept, and
the catalog. How rows are built:

- **online-retail** (UCI Online Retail): purchases only: rows with a CustomerID, not a
  cancellation (InvoiceNo starting with C), Quantity > 0, and a product stock code (five
  digits first); item = StockCode upper-cased, time = InvoiceDate (UTC), session =
  InvoiceNo, price = UnitPrice. Items: every product code sold at a price or bought by a
  customer, named by its most common description, priced at the median UnitPrice of
  its sales.
- **amazon-beauty** (S3-Rec's Beauty.txt): a line is a user's items in time order; the
  position in the line (0, 1, 2 …) is the timestamp. Items carry their attribute ids as
  the ``attribute`` facet.
- **movielens** (ml-latest-small): every rating is a positive, time = its timestamp;
  ``type`` is left empty. Items: the titles and genres of movies.csv.
- **yoochoose** (session-rec's 100k slice): train_full then test; the session is the user,
  every row a click. Items have ids only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import polars as pl

from endcap.catalog.model import Item
from endcap.quality.dataset import (
    ITEM,
    PRICE,
    QUANTITY,
    SESSION,
    TIME,
    TYPE,
    USER,
    DatasetError,
    canonical,
)

Converted = tuple[pl.DataFrame, list[Item]]

RETAIL_PARTS = "online_retail.part-*.csv.gz"
#: A product's stock code starts with five digits (85123A, 22423); POST, M, DOT, BANK
#: CHARGES, gift_0001_20 … are postage, fees, manual lines and vouchers.
PRODUCT_CODE = r"^\d{5}"
BEAUTY_SEQUENCES = "Beauty.txt"
BEAUTY_ATTRIBUTES = "Beauty_item2attributes.json"
YOOCHOOSE_FILES = ("yoochoose-clicks-100k_train_full.txt", "yoochoose-clicks-100k_test.txt")
NO_GENRE = "(no genres listed)"


def _file(src_dir: Path | str, name: str) -> Path:
    path = Path(src_dir) / name
    if not path.is_file():
        raise DatasetError(path, "no such file: is the directory the data set's own?")
    return path


def _csv(path: Path, *, separator: str = ",", columns: tuple[str, ...]) -> pl.DataFrame:
    """A source file, every column as text, checked for the columns it must have."""
    try:
        df = pl.read_csv(path, separator=separator, infer_schema=False, quote_char='"')
    except pl.exceptions.PolarsError as e:
        raise DatasetError(path, f"cannot read it: {str(e).splitlines()[0]}") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DatasetError(path, f"missing column(s) {', '.join(missing)}")
    return df


def online_retail(src_dir: Path | str) -> Converted:
    """UCI Online Retail (``online_retail.part-*.csv.gz``) as purchases and items."""
    parts = sorted(Path(src_dir).glob(RETAIL_PARTS))
    if not parts:
        raise DatasetError(src_dir, f"no {RETAIL_PARTS} here")
    cols = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
            "CustomerID")
    raw = pl.concat([_csv(p, columns=cols).select(cols) for p in parts]).with_columns(
        pl.col("StockCode").str.strip_chars().str.to_uppercase(),
        pl.col("Description").str.strip_chars(),
        pl.col("Quantity").cast(pl.Int64, strict=False),
        pl.col("UnitPrice").cast(pl.Float64, strict=False),
    ).with_row_index("line")
    product = raw.filter(pl.col("StockCode").str.contains(PRODUCT_CODE))
    has_customer = pl.col("CustomerID").str.strip_chars() != ""
    bought = product.filter(~pl.col("InvoiceNo").str.starts_with("C")
                            & (pl.col("Quantity") > 0))
    purchases = bought.filter(has_customer).select(
        # CustomerID is a whole number; a float-formatted copy (17850.0) gives "17850" too.
        pl.col("CustomerID").cast(pl.Float64, strict=False).cast(pl.Int64).cast(pl.String)
        .alias(USER),
        pl.col("StockCode").alias(ITEM),
        pl.col("InvoiceDate").alias(TIME),
        pl.lit("purchase").alias(TYPE),
        pl.col("InvoiceNo").alias(SESSION),
        pl.col("Quantity").alias(QUANTITY),
        pl.col("UnitPrice").alias(PRICE),
    )
    return canonical(purchases, src_dir), _retail_items(product, bought, has_customer)


def _most_common(rows: pl.DataFrame, key: str, value: str) -> pl.DataFrame:
    """Each ``key``'s most frequent non-empty ``value``; ties go to the first seen."""
    return (rows.filter(pl.col(value).is_not_null() & (pl.col(value) != ""))
            .group_by(key, value).agg(pl.len().alias("n"), pl.col("line").min())
            .sort([key, "n", "line"], descending=[False, True, False])
            .group_by(key, maintain_order=True).first().select(key, value))


def _retail_items(product: pl.DataFrame, bought: pl.DataFrame, has_customer: pl.Expr
                  ) -> list[Item]:
    sold = bought.filter(pl.col("UnitPrice") > 0)
    # Named by what the shop sold it as, else (a few sold at price 0 only) by any name.
    name = _most_common(sold, "StockCode", "Description").join(
        _most_common(product, "StockCode", "Description"), on="StockCode", how="full",
        coalesce=True, suffix="_any")
    price = sold.group_by("StockCode").agg(pl.col("UnitPrice").median())
    # Lines at price 0 without a customer are stock adjustments ("Found by jackie").
    catalog = bought.filter((pl.col("UnitPrice") > 0) | has_customer)
    codes = (catalog.group_by("StockCode").agg(pl.col("line").min()).sort("line")
             .join(name, on="StockCode", how="left").join(price, on="StockCode", how="left"))
    return [Item(id=code, name=desc or other or "",
                 price=None if p is None else round(p, 4), currency="GBP")
            for code, _, desc, other, p in codes.iter_rows()]


def amazon_beauty(src_dir: Path | str) -> Converted:
    """S3-Rec's Amazon Beauty: ``Beauty.txt`` sequences and their item attributes."""
    path = _file(src_dir, BEAUTY_SEQUENCES)
    lines = pl.Series("line", path.read_text().splitlines()).str.strip_chars()
    seq = pl.DataFrame({"line": lines.filter(lines != "")}).select(
        pl.col("line").str.split(" ").alias("ids"))
    rows = seq.select(
        pl.col("ids").list.first().alias(USER),
        pl.col("ids").list.slice(1).alias(ITEM),
        pl.int_ranges(0, pl.col("ids").list.len() - 1).alias(TIME),
    ).explode(ITEM, TIME)
    short = rows[ITEM].is_null()
    if short.any():
        r = int(short.arg_true()[0])
        raise DatasetError(path, f"user {rows[USER][r]} has no items")
    attrs_path = _file(src_dir, BEAUTY_ATTRIBUTES)
    try:
        attrs: dict[str, list[int]] = json.loads(attrs_path.read_text())
    except ValueError as e:
        raise DatasetError(attrs_path, f"not JSON: {e}") from None
    ids = dict.fromkeys(attrs) | dict.fromkeys(rows[ITEM].unique(maintain_order=True))
    items = [Item(id=i, name=f"item {i}",
                  facets={"attribute": [str(a) for a in attrs[i]]} if attrs.get(i) else {})
             for i in ids]
    return canonical(rows, src_dir), items


def movielens(src_dir: Path | str) -> Converted:
    """MovieLens (``ratings.csv``, ``movies.csv``): every rating a positive."""
    ratings = _csv(_file(src_dir, "ratings.csv"), columns=("userId", "movieId", "timestamp"))
    rows = ratings.select(pl.col("userId").alias(USER), pl.col("movieId").alias(ITEM),
                          pl.col("timestamp").alias(TIME))
    movies = _csv(_file(src_dir, "movies.csv"), columns=("movieId", "title", "genres"))
    items = [Item(id=m, name=title or "",
                  categories=[g for g in (genres or "").split("|") if g and g != NO_GENRE])
             for m, title, genres in movies.select("movieId", "title", "genres").iter_rows()]
    return canonical(rows, src_dir), items


def yoochoose(src_dir: Path | str) -> Converted:
    """session-rec's YOOCHOOSE 100k clicks, train_full then test; a session is a user."""
    parts = [_csv(_file(src_dir, name), separator="\t", columns=("SessionId", "ItemId", "Time"))
             for name in YOOCHOOSE_FILES]
    rows = pl.concat([p.select("SessionId", "ItemId", "Time") for p in parts]).select(
        pl.col("SessionId").alias(USER), pl.col("ItemId").alias(ITEM),
        pl.col("Time").alias(TIME), pl.lit("click").alias(TYPE),
        pl.col("SessionId").alias(SESSION))
    frame = canonical(rows, src_dir)
    return frame, [Item(id=i) for i in frame[ITEM].unique(maintain_order=True)]


#: The converters by the name ``endcap convert`` takes.
CONVERTERS: dict[str, Callable[[Path | str], Converted]] = {
    "online-retail": online_retail,
    "amazon-beauty": amazon_beauty,
    "movielens": movielens,
    "yoochoose": yoochoose,
}
