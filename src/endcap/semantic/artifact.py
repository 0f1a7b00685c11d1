"""The embeddings artifact: item vectors, their ANN index and what filters need.

Versioned and immutable like the model (``kind="embeddings"`` in the model store),
saved as one ``.npz`` of plain arrays plus the serialised faiss index. Rows are
append-only: an item whose text changed gets a new row and its old row becomes a
tombstone (``item_ids[row] == ""``), so an update never rebuilds the graph; the
embedding job rebuilds when tombstones pass a fifth of the rows.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from endcap.catalog.model import Item
from endcap.pods.model import Filters
from endcap.semantic.ann import Mask, VectorIndex
from endcap.semantic.provider import Vectors

FORMAT_VERSION = 1
#: Rows fetched by the first search of a lazy walk; each further search fetches 4x more.
FIRST_BATCH = 64


@dataclass(frozen=True, slots=True)
class Attributes:
    """Per-row facts filters test, as of the artifact's build (the engine re-checks
    every result against the live catalog)."""

    price: npt.NDArray[np.float32]  # NaN when unknown
    in_stock: npt.NDArray[np.bool_]
    brand: npt.NDArray[np.int32]  # index into ``brands``, -1 when none
    brands: list[str]
    #: Row lists per category path prefix ("Home", "Home/Kitchen").
    categories: dict[str, npt.NDArray[np.int32]]

    @staticmethod
    def of(items: list[Item | None]) -> Attributes:
        brands: dict[str, int] = {}
        cats: dict[str, list[int]] = {}
        price = np.full(len(items), np.nan, np.float32)
        stock = np.zeros(len(items), bool)
        brand = np.full(len(items), -1, np.int32)
        for row, it in enumerate(items):
            if it is None:
                continue
            if it.price is not None:
                price[row] = it.price
            stock[row] = it.in_stock
            if it.brand:
                brand[row] = brands.setdefault(it.brand, len(brands))
            for path in it.categories:
                parts = [p for p in path.strip("/").split("/") if p]
                for depth in range(1, len(parts) + 1):
                    rows = cats.setdefault("/".join(parts[:depth]), [])
                    if not rows or rows[-1] != row:
                        rows.append(row)
        return Attributes(price, stock, brand, list(brands),
                          {c: np.asarray(r, np.int32) for c, r in cats.items()})


@dataclass(frozen=True, slots=True)
class ItemEmbeddings:
    """Everything the semantic strategies read, indexed by row."""

    version: str
    #: The provider's name: vectors of another model are never mixed with these.
    provider: str
    built_at: float
    #: The item at each row; ``""`` marks a tombstone (a deleted or re-embedded item).
    item_ids: list[str]
    #: The :func:`~endcap.semantic.text.text_hash` each row was embedded from.
    hashes: npt.NDArray[np.uint8]
    index: VectorIndex
    attributes: Attributes
    stats: dict[str, Any] = field(default_factory=dict)
    row: dict[str, int] = field(default_factory=dict)
    alive: Mask = field(default_factory=lambda: np.zeros(0, bool))

    def __post_init__(self) -> None:
        if not self.row:
            self.row.update({iid: r for r, iid in enumerate(self.item_ids) if iid})
        if len(self.alive) != len(self.item_ids):
            object.__setattr__(self, "alive", np.fromiter(
                (bool(i) for i in self.item_ids), bool, len(self.item_ids)))

    @property
    def dim(self) -> int:
        return self.index.dim

    @property
    def tombstones(self) -> int:
        return len(self.item_ids) - len(self.row)

    def vectors_of(self, item_ids: list[str]) -> Vectors:
        """The vectors of the known ``item_ids``, in order (unknown ones skipped)."""
        return self.index.vectors([r for i in item_ids if (r := self.row.get(i)) is not None])

    def mask(self, filters: Filters) -> Mask | None:
        """Rows that may match ``filters`` (None: every live row), from the artifact's
        copy of prices, stock, brands and categories; facets are left to the engine."""
        m: Mask | None = None if not self.tombstones else self.alive.copy()
        a = self.attributes

        def narrow(keep: Mask) -> None:
            nonlocal m
            m = keep if m is None else m & keep

        if filters.category is not None:
            keep = np.zeros(len(self.item_ids), bool)
            rows = a.categories.get(filters.category.strip("/"))
            if rows is not None:
                keep[rows] = True
            narrow(keep)
        if filters.brand is not None:  # matched without case, as the engine does
            want = filters.brand.casefold()
            codes = [c for c, b in enumerate(a.brands) if b.casefold() == want]
            narrow(np.isin(a.brand, codes))
        if filters.price_min is not None:
            narrow(a.price >= filters.price_min)
        if filters.price_max is not None:
            narrow(a.price <= filters.price_max)
        if filters.in_stock is not None:
            narrow(a.in_stock == filters.in_stock)
        return m

    def nearest(self, query: Vectors, filters: Filters | None = None, *,
                exclude: set[str] | frozenset[str] = frozenset()
                ) -> Iterator[tuple[str, float]]:
        """(item_id, cosine) nearest first, lazily: the first :data:`FIRST_BATCH`,
        then 4x wider searches, until every matching row has been offered."""
        allowed = self.mask(filters) if filters is not None else (
            self.alive if self.tombstones else None)
        total = len(self.item_ids) if allowed is None else int(np.count_nonzero(allowed))
        seen = 0
        k = FIRST_BATCH
        while seen < total:
            rows, scores = self.index.search(query, k, allowed)
            for r, s in zip(rows[seen:].tolist(), scores[seen:].tolist(), strict=True):
                iid = self.item_ids[r]
                if iid and iid not in exclude:
                    yield iid, s
            if len(rows) < k:
                return
            seen = len(rows)
            k *= 4

    # -- persistence --------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        a = self.attributes
        cats = sorted(a.categories)
        meta = {"format": FORMAT_VERSION, "version": self.version, "provider": self.provider,
                "built_at": self.built_at, "dim": self.dim, "brands": a.brands,
                "categories": cats, "stats": self.stats}
        arrays: dict[str, Any] = {
            "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8),
            "item_ids": np.array(self.item_ids, dtype=np.str_),
            "hashes": self.hashes,
            "index": np.frombuffer(self.index.to_bytes(), np.uint8),
            "price": a.price, "in_stock": a.in_stock, "brand": a.brand,
        }
        for j, c in enumerate(cats):
            arrays[f"cat_{j}"] = a.categories[c]
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @staticmethod
    def from_bytes(data: bytes) -> ItemEmbeddings:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"unsupported embeddings format {meta.get('format')!r}")
            attrs = Attributes(
                price=z["price"].astype(np.float32), in_stock=z["in_stock"].astype(bool),
                brand=z["brand"].astype(np.int32), brands=list(meta["brands"]),
                categories={c: z[f"cat_{j}"].astype(np.int32)
                            for j, c in enumerate(meta["categories"])})
            return ItemEmbeddings(
                version=meta["version"], provider=meta["provider"],
                built_at=float(meta["built_at"]),
                item_ids=[str(x) for x in z["item_ids"].tolist()],
                hashes=z["hashes"].astype(np.uint8),
                index=VectorIndex.from_bytes(z["index"].tobytes(), int(meta["dim"])),
                attributes=attrs, stats=meta.get("stats", {}))


def new_version(now: float | None = None) -> str:
    """Embeddings versions sort by time, like model versions."""
    from endcap.train.model import new_version as model_version

    return model_version(time.time() if now is None else now)
