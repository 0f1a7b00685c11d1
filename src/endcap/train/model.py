"""The trained model of one tenant: precomputed tables the hot path only reads.

Saved as one ``.npz`` of plain arrays (never pickle) plus JSON metadata.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float32]

FORMAT_VERSION = 1


def new_version(now: float | None = None) -> str:
    """A sortable, unique-enough model version name: UTC time to the millisecond."""
    t = time.time() if now is None else now
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + f"{int(t * 1000) % 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Neighbours:
    """Top-K neighbour lists: ``idx[i]`` are item indices (``-1`` pads), best first."""

    idx: IntArray
    score: FloatArray

    @staticmethod
    def empty(n: int, k: int = 1) -> Neighbours:
        return Neighbours(np.full((n, k), -1, np.int32), np.zeros((n, k), np.float32))

    def row(self, i: int) -> tuple[IntArray, FloatArray]:
        """The neighbours of item ``i`` without padding."""
        idx = self.idx[i]
        keep = idx >= 0
        return idx[keep], self.score[i][keep]


@dataclass(frozen=True, slots=True)
class Model:
    """Everything the strategies need, indexed by item position in ``item_ids``."""

    version: str
    trained_at: float
    #: The time popularity and trending are computed at (the newest event's time).
    reference_time: float
    item_ids: list[str]
    #: Purchase-weighted, time-decayed popularity; items sorted by it in ``bestseller_order``.
    bestsellers: FloatArray
    bestseller_order: IntArray
    #: Recent rate against a longer baseline; items sorted by it in ``trending_order``.
    trending: FloatArray
    trending_order: IntArray
    #: Bestseller order restricted to each category path prefix ("Home", "Home/Kitchen").
    category_order: dict[str, IntArray]
    #: Similar items (substitutes) for ``alternative_items``.
    alternatives: Neighbours
    #: Frequently bought together, substitutes removed, for ``complementary_items``.
    complements: Neighbours
    #: What a shopper who had the item is likely to want next, for ``for_you``.
    related: Neighbours
    #: Per ``alternatives`` entry, whether text similarity gave most of its score (the
    #: result's reason is then ``similar_text``); None without embeddings.
    alternatives_text: npt.NDArray[np.bool_] | None = None
    #: ``for_you``'s recency decay, chosen on validation with the ``related`` table.
    for_you_decay: float = 0.85
    stats: dict[str, Any] = field(default_factory=dict)
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.index:
            self.index.update({iid: i for i, iid in enumerate(self.item_ids)})

    def to_bytes(self) -> bytes:
        """Serialise as an ``.npz`` archive of plain arrays."""
        cats = sorted(self.category_order)
        meta = {
            "format": FORMAT_VERSION,
            "version": self.version,
            "trained_at": self.trained_at,
            "reference_time": self.reference_time,
            "categories": cats,
            "for_you_decay": self.for_you_decay,
            "stats": self.stats,
        }
        arrays: dict[str, Any] = {
            "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8),
            "item_ids": np.array(self.item_ids, dtype=np.str_),
            "bestsellers": self.bestsellers,
            "bestseller_order": self.bestseller_order,
            "trending": self.trending,
            "trending_order": self.trending_order,
        }
        for name in ("alternatives", "complements", "related"):
            nb: Neighbours = getattr(self, name)
            arrays[f"{name}_idx"] = nb.idx
            arrays[f"{name}_score"] = nb.score
        for j, c in enumerate(cats):
            arrays[f"cat_{j}"] = self.category_order[c]
        if self.alternatives_text is not None:
            arrays["alternatives_text"] = self.alternatives_text
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @staticmethod
    def from_bytes(data: bytes) -> Model:
        """Load what :meth:`to_bytes` wrote; refuses object arrays (no pickle)."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"unsupported model format {meta.get('format')!r}")

            def nb(name: str) -> Neighbours:
                return Neighbours(z[f"{name}_idx"].astype(np.int32),
                                  z[f"{name}_score"].astype(np.float32))

            return Model(
                version=meta["version"],
                trained_at=float(meta["trained_at"]),
                reference_time=float(meta["reference_time"]),
                item_ids=[str(x) for x in z["item_ids"].tolist()],
                bestsellers=z["bestsellers"].astype(np.float32),
                bestseller_order=z["bestseller_order"].astype(np.int32),
                trending=z["trending"].astype(np.float32),
                trending_order=z["trending_order"].astype(np.int32),
                category_order={c: z[f"cat_{j}"].astype(np.int32)
                                for j, c in enumerate(meta["categories"])},
                alternatives=nb("alternatives"),
                complements=nb("complements"),
                related=nb("related"),
                alternatives_text=z["alternatives_text"].astype(bool)
                if "alternatives_text" in z.files else None,
                for_you_decay=float(meta.get("for_you_decay", 0.85)),
                stats=meta.get("stats", {}),
            )
