"""Train/test splits of a canonical interaction frame (see :mod:`endcap.quality.dataset`).

Both protocols work on *implicit binary feedback*: a repeated (user, item) pair keeps
only its first occurrence (by timestamp, ties by file order). Users and items are coded
as dense integers; ``Split.users`` and ``Split.items`` map the codes back to ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

I64 = npt.NDArray[np.int64]

#: Columns every canonical frame has (the optional ones may hold nulls).
REQUIRED = ("user_id", "item_id", "timestamp")


@dataclass(frozen=True, slots=True)
class Split:
    """``train`` is the frame of training rows (with integer ``user`` and ``item`` codes
    added, in time order, ties by file order); ``test_user[j]`` must be recommended
    ``test_item[j]`` (several rows per user under ``time-split``)."""

    train: pl.DataFrame
    test_user: I64
    test_item: I64
    users: list[str]
    items: list[str]
    #: Price of each test row's item, where the frame has prices (NaN where unknown).
    test_price: npt.NDArray[np.float64]

    @property
    def test_users(self) -> I64:
        """The distinct test users, ascending."""
        return np.unique(self.test_user)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def seen(self) -> sp.csr_matrix:
        """The users × items 0/1 matrix of training pairs."""
        u = self.train["user"].to_numpy().astype(np.int64)
        i = self.train["item"].to_numpy().astype(np.int64)
        return sp.csr_matrix((np.ones(len(u), np.float32), (u, i)),
                             shape=(self.n_users, self.n_items))


def _codes(df: pl.DataFrame) -> tuple[pl.DataFrame, list[str], list[str]]:
    users = df["user_id"].unique(maintain_order=True)
    items = df["item_id"].unique(maintain_order=True)
    df = df.with_columns(
        pl.col("user_id").replace_strict(users, pl.int_range(len(users), eager=True),
                                         return_dtype=pl.Int64).alias("user"),
        pl.col("item_id").replace_strict(items, pl.int_range(len(items), eager=True),
                                         return_dtype=pl.Int64).alias("item"),
    )
    return df, users.to_list(), items.to_list()


def dedupe(frame: pl.DataFrame) -> pl.DataFrame:
    """Time order (ties by file order), each (user, item) pair at its first occurrence."""
    df = frame if "_row" in frame.columns else frame.with_row_index("_row")
    return df.sort(["timestamp", "_row"]).unique(["user_id", "item_id"], keep="first",
                                                 maintain_order=True)


def _prices(df: pl.DataFrame, items: I64, n_items: int) -> npt.NDArray[np.float64]:
    if "price" not in df.columns:
        return np.full(len(items), np.nan)
    # An item's price: the median of its known prices (shops change prices over time).
    per = df.filter(pl.col("price").is_not_null() & (pl.col("price") > 0)).group_by(
        "item").agg(pl.col("price").median())
    price = np.full(n_items, np.nan)
    price[per["item"].to_numpy()] = per["price"].to_numpy()
    return price[items]


def leave_last_out(frame: pl.DataFrame, *, min_items: int = 3) -> Split:
    """Every user with at least ``min_items`` distinct items gives their last one (by
    timestamp, ties by file order) to test; everything else is train."""
    df, users, items = _codes(dedupe(frame))
    return _leave_last_out(df, users, items, min_items)


def _leave_last_out(df: pl.DataFrame, users: list[str], items: list[str],
                    min_items: int) -> Split:
    # Rows are in time order (ties by file order), so a user's last row is their test.
    k = df.select(pl.int_range(pl.len()).over("user").alias("k"),
                  pl.len().over("user").alias("n"))
    is_test = (k["k"] == k["n"] - 1) & (k["n"] >= min_items)
    test = df.filter(is_test)
    t_item = test["item"].to_numpy().astype(np.int64)
    return Split(train=df.filter(~is_test), test_user=test["user"].to_numpy().astype(np.int64),
                 test_item=t_item, users=users, items=items,
                 test_price=_prices(df, t_item, len(items)))


def validation(split: Split, *, min_items: int = 3) -> Split:
    """A leave-last-out split carved from ``split.train`` the same way, with the same
    user and item codes: what hyperparameters are tuned on."""
    return _leave_last_out(split.train, split.users, split.items, min_items)


def time_split(frame: pl.DataFrame, *, test_fraction: float = 0.1) -> Split:
    """Rows after the time that leaves ``test_fraction`` of the (deduplicated) rows
    later are test; a user is tested on the later items they did not have in train,
    and only if they have a training row (a new user is a cold-start problem, not
    this one's)."""
    if not 0 < test_fraction < 1:
        raise ValueError("test_fraction must be between 0 and 1")
    df, users, items = _codes(dedupe(frame))
    cut = float(df["timestamp"].quantile(1 - test_fraction, "lower") or 0.0)
    train = df.filter(pl.col("timestamp") <= cut)
    later = df.filter(pl.col("timestamp") > cut)
    test = later.filter(pl.col("user").is_in(train["user"].unique().implode()))
    t_item = test["item"].to_numpy().astype(np.int64)
    return Split(train=train, test_user=test["user"].to_numpy().astype(np.int64),
                 test_item=t_item, users=users, items=items,
                 test_price=_prices(df, t_item, len(items)))
