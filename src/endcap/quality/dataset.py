"""The canonical interaction format that offline evaluation reads, and endcap item files.

An interaction file is CSV (optionally gzipped: ``.csv.gz``) or Parquet with one row per
interaction and the columns of :data:`SCHEMA`: ``user_id``, ``item_id`` and ``timestamp``
are required (ISO 8601 date-times, naive meaning UTC, or epoch seconds); ``type``,
``session_id``, ``quantity`` and ``price`` are optional, and other columns are ignored.
:func:`read_interactions` returns exactly the :data:`SCHEMA` columns plus ``_row`` (file
order) or raises :class:`DatasetError` naming the first bad row and column.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import msgspec
import polars as pl

from endcap.catalog.model import Item
from endcap.errors import message_of

USER, ITEM, TIME, TYPE, SESSION, QUANTITY, PRICE = (
    "user_id", "item_id", "timestamp", "type", "session_id", "quantity", "price")
#: File order, 0-based: what breaks timestamp ties.
ROW = "_row"
REQUIRED = (USER, ITEM, TIME)
#: The columns of a canonical frame, in order, with their types.
SCHEMA: dict[str, pl.DataType] = {
    USER: pl.String(), ITEM: pl.String(), TIME: pl.Float64(), TYPE: pl.String(),
    SESSION: pl.String(), QUANTITY: pl.Float64(), PRICE: pl.Float64(),
}
TYPES = ("view", "click", "add_to_cart", "purchase")
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz")

#: ISO 8601: a date, optionally a time (minutes, seconds, fraction) and a UTC offset.
_ISO = (r"^(\d{4})-(\d{2})-(\d{2})"
        r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
        r" ?(Z|z|[+-]\d{2}(?::?\d{2})?)?$")
#: (exact shape, polars format) of the usual ISO 8601 forms, parsed faster.
_FAST_ISO = tuple(
    (rf"^\d{{4}}-\d{{2}}-\d{{2}}{sep}\d{{2}}:\d{{2}}:[0-5]\d(?:\.\d{{1,9}})?{z}$",
     f"%Y-%m-%d{sep}%H:%M:%S%.f{z}")
    for sep in "T " for z in ("", "Z"))


class DatasetError(ValueError):
    """A file that is not in the canonical format; ``row`` counts data rows from 1."""

    def __init__(self, path: Path | str, message: str, *, row: int | None = None,
                 column: str | None = None) -> None:
        where = str(path)
        if row is not None:
            where += f", row {row}"
            if str(path).endswith(CSV_SUFFIXES):
                where += f" (line {row + 1})"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.row = row
        self.column = column


def file_kind(path: Path) -> str:
    """``"csv"`` or ``"parquet"`` by the file name's suffix."""
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise DatasetError(path, "unknown file type: name it .csv, .csv.gz, .parquet or .pq")


def read_interactions(path: Path | str) -> pl.DataFrame:
    """The canonical frame of an interaction file: the :data:`SCHEMA` columns (missing
    optional ones as nulls), ``timestamp`` as epoch seconds, and ``_row`` (UInt32)."""
    path = Path(path)
    return canonical(_read_raw(path), path)


def canonical(raw: pl.DataFrame, source: Path | str = "<frame>") -> pl.DataFrame:
    """``raw`` (columns named as in the canonical format, text or typed) checked and
    converted as :func:`read_interactions` does; ``source`` names it in errors."""
    path = Path(source)
    raw = raw.rename({c: c.lstrip("\ufeff").strip() for c in raw.columns})
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise DatasetError(path, f"missing required column(s) {', '.join(missing)}; the "
                                 f"file has {', '.join(raw.columns) or 'no columns'}")
    if len(raw) >= 2**32:
        raise DatasetError(path, "more than 2^32 rows")
    cols = [_id_column(path, raw, USER, required=True),
            _id_column(path, raw, ITEM, required=True),
            _timestamps(path, raw),
            _types(path, raw),
            _id_column(path, raw, SESSION, required=False),
            _amount(path, raw, QUANTITY),
            _amount(path, raw, PRICE)]
    return pl.DataFrame(cols).with_row_index(ROW).select(
        *SCHEMA, pl.col(ROW).cast(pl.UInt32))


def _read_raw(path: Path) -> pl.DataFrame:
    kind = file_kind(path)
    if not path.is_file():
        raise DatasetError(path, "no such file")
    try:
        if kind == "parquet":
            return pl.read_parquet(path)
        # Everything as text: ids keep their leading zeros, and parsing is ours.
        return pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DatasetError(path, f"cannot read it as {kind.upper()}: {first}") from None


def _fail(path: Path, col: pl.Series, bad: pl.Series, message: str) -> DatasetError:
    """An error at the first row where ``bad`` holds, with the value and a count."""
    rows = bad.fill_null(False).arg_true()
    r = int(rows[0])
    n = len(rows) - 1
    more = f" ({n:,} more row{'s' * (n > 1)} like it)" if n else ""
    value = col[r]
    shown = "" if value is None else f" (got {value!r})"
    return DatasetError(path, f"{message}{shown}{more}", row=r + 1, column=col.name)


def _as_text(col: pl.Series) -> pl.Series:
    """Ids as text; a float column of whole numbers (a CSV read by pandas with blanks)
    as integers, ``17850`` rather than ``17850.0``."""
    if col.dtype == pl.String:
        return col
    if col.dtype.is_float():
        whole = col.is_null() | (col.is_finite() & (col == col.floor()))
        if whole.all():
            return col.cast(pl.Int64).cast(pl.String)
    return col.cast(pl.String)


def _id_column(path: Path, raw: pl.DataFrame, name: str, *, required: bool) -> pl.Series:
    if name not in raw.columns:
        return pl.Series(name, [None] * len(raw), pl.String)
    col = raw[name]
    if not (col.dtype == pl.String or col.dtype.is_numeric() or col.dtype == pl.Categorical):
        raise DatasetError(path, f"ids must be text or integers, not {col.dtype}", column=name)
    text = _as_text(col)
    blank = text.str.strip_chars() == ""
    if required:
        empty = text.is_null() | blank
        if empty.any():
            raise _fail(path, text, empty, "empty id")
        return text
    return pl.select(pl.when(blank).then(None).otherwise(text).alias(name)).to_series()


def _timestamps(path: Path, raw: pl.DataFrame) -> pl.Series:
    col = raw[TIME]
    if isinstance(col.dtype, pl.Datetime):
        out = col.dt.epoch("us").cast(pl.Float64) / 1e6  # naive counts as UTC
    elif col.dtype == pl.Date:
        out = col.cast(pl.Int32).cast(pl.Float64) * 86_400.0
    elif col.dtype.is_numeric():
        out = col.cast(pl.Float64)
    elif col.dtype == pl.String:
        out = _parse_times(col)
    else:
        raise DatasetError(path, f"timestamps must be text, numbers or date-times, not "
                                 f"{col.dtype}", column=TIME)
    out = out.alias(TIME)
    if col.is_null().any():
        raise _fail(path, col, col.is_null(), "missing timestamp")
    bad = out.is_null() | ~out.is_finite()
    if bad.any():
        raise _fail(path, col, bad, "not a timestamp: give epoch seconds or an ISO 8601 "
                                    "date-time such as 2024-05-01T12:30:00Z")
    return out


def _parse_times(text: pl.Series) -> pl.Series:
    """Epoch seconds or ISO 8601 text as epoch seconds; null where neither parses."""
    s = text.str.strip_chars()
    out = s.cast(pl.Float64, strict=False)
    # The common shapes go through polars' own parser, the rest through the full pattern.
    for shape, fmt in _FAST_ISO:
        todo = (out.is_null() & s.str.contains(shape)).arg_true()
        if len(todo):
            some = s if len(todo) == len(s) else s.gather(todo)
            got = some.str.to_datetime(fmt, strict=False, time_unit="us")
            out = out.scatter(todo, got.dt.epoch("us").cast(pl.Float64) / 1e6)
    todo = (out.is_null() & s.is_not_null()).arg_true()
    if len(todo):
        out = out.scatter(todo, _parse_iso(s.gather(todo)))
    return out


def _parse_iso(s: pl.Series) -> pl.Series:
    """ISO 8601 text (see ``_ISO``) as epoch seconds; null where it does not parse."""
    g = s.str.extract_groups(_ISO).struct.unnest().lazy()
    hour, minute, second = (pl.col(str(i)).cast(pl.Int64).fill_null(0) for i in (4, 5, 6))
    frac = pl.format("0.{}", pl.col("7").fill_null("0")).cast(pl.Float64)
    zone = pl.col("8").fill_null("Z").str.replace_all(r"[^0-9+-]", "")
    sign = pl.when(zone.str.starts_with("-")).then(-1).otherwise(1)
    zh = zone.str.slice(1, 2).cast(pl.Int64, strict=False).fill_null(0)
    zm = zone.str.slice(-2, 2).cast(pl.Int64, strict=False).fill_null(0)
    zm = pl.when(zone.str.len_chars() > 3).then(zm).otherwise(0)
    day = pl.format("{}-{}-{}", "1", "2", "3").str.to_date("%Y-%m-%d", strict=False)
    ok = (hour <= 23) & (minute <= 59) & (second <= 59) & (zh <= 23) & (zm <= 59)
    iso = (day.cast(pl.Int32).cast(pl.Float64) * 86_400.0 + hour * 3600 + minute * 60
           + second + frac - sign * (zh * 3600 + zm * 60))
    return g.select(pl.when(ok).then(iso).otherwise(None).alias(TIME)).collect()[TIME]


def _types(path: Path, raw: pl.DataFrame) -> pl.Series:
    if TYPE not in raw.columns:
        return pl.Series(TYPE, [None] * len(raw), pl.String)
    col = raw[TYPE]
    if col.dtype != pl.String:
        col = col.cast(pl.String)
    text = col.str.strip_chars()
    text = pl.select(pl.when(text == "").then(None).otherwise(text).alias(TYPE)).to_series()
    bad = text.is_not_null() & ~text.is_in(TYPES)
    if bad.any():
        raise _fail(path, col, bad, f"unknown type: use one of {', '.join(TYPES)} or "
                                    "leave it empty")
    return text


def _amount(path: Path, raw: pl.DataFrame, name: str) -> pl.Series:
    if name not in raw.columns:
        return pl.Series(name, [None] * len(raw), pl.Float64)
    col = raw[name]
    if col.dtype == pl.String:
        text = col.str.strip_chars()
        text = pl.select(pl.when(text == "").then(None).otherwise(text)).to_series()
        out = text.cast(pl.Float64, strict=False)
        bad = text.is_not_null() & out.is_null()
        if bad.any():
            raise _fail(path, col, bad, "not a number")
    elif col.dtype.is_numeric():
        out = col.cast(pl.Float64)
    else:
        raise DatasetError(path, f"must be numbers, not {col.dtype}", column=name)
    out = out.alias(name)
    bad = out.is_not_null() & (~out.is_finite() | (out < 0))
    if bad.any():
        raise _fail(path, col, bad, "must be a finite number of at least 0")
    return out


def write_interactions(frame: pl.DataFrame, path: Path | str) -> Path:
    """Write the :data:`SCHEMA` columns of ``frame`` as CSV (``.csv``, ``.csv.gz``) or
    Parquet (``.parquet``, ``.pq``), chosen by the suffix; returns the path."""
    path = Path(path)
    kind = file_kind(path)
    out = frame.select(*SCHEMA)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        out.write_parquet(path)
    elif path.name.lower().endswith(".gz"):
        buf = io.BytesIO()
        out.write_csv(buf)
        with gzip.open(path, "wb", compresslevel=6) as f:
            f.write(buf.getvalue())
    else:
        out.write_csv(path)
    return path


_item = msgspec.json.Decoder(Item)


def read_items(path: Path | str) -> list[Item]:
    """The items of an NDJSON file (one endcap item a line, as ``endcap load`` and
    ``PUT /v1/items`` take them; ``.gz`` is decompressed)."""
    path = Path(path)
    try:
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
    except OSError as e:
        raise DatasetError(path, e.strerror or str(e)) from None
    out: list[Item] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = _item.decode(line)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            raise DatasetError(path, f"line {n}: not an endcap item: {message_of(e)}"
                               ) from None
        if item.id in seen:
            raise DatasetError(path, f"line {n}: item id {item.id!r} is already on line "
                                     f"{seen[item.id]}")
        seen[item.id] = n
        out.append(item)
    return out


def write_items(items: list[Item], path: Path | str) -> Path:
    """Write ``items`` as NDJSON, one item a line; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = msgspec.json.Encoder().encode_lines(items)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path
