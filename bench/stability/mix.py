"""What the stability run sends: its pods, the recommendations mix, and event batches,
with Zipf-distributed shoppers and items (rank 1 = the shop's most active shopper and its
most popular item)."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import msgspec

#: The pods the run creates over the pod API (PUT /v1/pods/{id}), by placement.
PODS: dict[str, dict[str, Any]] = {
    "stab-pdp-similar": {"display_name": "Similar items", "num_results": 8,
                         "strategy": ["alternative_items", "filtered_items"],
                         "filters": {"in_stock": True}, "rules": {"max_per_category": 4}},
    "stab-for-you": {"display_name": "Picked for you", "strategy": ["for_you", "bestsellers"],
                     "filters": {"in_stock": True}},
    "stab-bestsellers": {"display_name": "Bestsellers", "strategy": "bestsellers"},
    "stab-trending": {"display_name": "Trending now", "strategy": ["trending", "bestsellers"]},
    "stab-recently-viewed": {"display_name": "Recently viewed", "strategy": "recently_viewed",
                             "allow_repurchase": True},
    "stab-cart": {"display_name": "Goes well with", "num_results": 6,
                  "strategy": ["complementary_items", "bestsellers"]},
    "stab-category": {"display_name": "Popular in this category",
                      "strategy": "filtered_items"},
}
#: The recommendations mix: (kind, share). Each kind is one pod and the context a
#: storefront sends with it.
REC_MIX: tuple[tuple[str, float], ...] = (
    ("pdp-similar", 0.35),     # product page: similar items for the item on show
    ("for-you", 0.20),         # home page row for a known shopper
    ("recently-viewed", 0.12),
    ("cart", 0.10),            # cart page: complements of 1-3 items in the cart
    ("bestsellers", 0.10),     # home page, half of them filtered to a category
    ("trending", 0.05),
    ("category", 0.08),        # category page: popular items under a price
)
POD_OF = {"pdp-similar": "stab-pdp-similar", "for-you": "stab-for-you",
          "recently-viewed": "stab-recently-viewed", "cart": "stab-cart",
          "bestsellers": "stab-bestsellers", "trending": "stab-trending",
          "category": "stab-category"}
#: Kinds of event in a batch, with their shares.
EVENT_MIX: tuple[tuple[str, float], ...] = (
    ("view", 0.70), ("click", 0.15), ("add_to_cart", 0.10), ("purchase", 0.05))


def zipf_weights(n: int, s: float) -> list[float]:
    """Cumulative Zipf weights over ranks 1..n with exponent ``s`` (for random.choices)."""
    total, out = 0.0, []
    for k in range(1, n + 1):
        total += k ** -s
        out.append(total)
    return out


class Served(msgspec.Struct):
    """The part of a recommendations response the events refer back to."""

    result_id: str = ""
    results: list[dict[str, Any]] = msgspec.field(default_factory=list)


@dataclass
class Shop:
    """What the mix draws from: shoppers by activity, items by popularity, prices and
    top-level categories."""

    users: list[str]
    items: list[str]
    prices: dict[str, float]
    categories: list[str]


class Mix:
    """Draws requests. Not thread-safe; one per event loop."""

    def __init__(self, shop: Shop, zipf_s: float, seed: int, run_id: str) -> None:
        self.shop, self.rng, self.run_id = shop, random.Random(seed), run_id
        self._users_cw = zipf_weights(len(shop.users), zipf_s)
        self._items_cw = zipf_weights(len(shop.items), zipf_s)
        self._kinds = [k for k, _ in REC_MIX]
        self._kinds_cw = _cumulative([w for _, w in REC_MIX])
        self._ev = [k for k, _ in EVENT_MIX]
        self._ev_cw = _cumulative([w for _, w in EVENT_MIX])
        self._seq = 0
        #: recently served (pod, result_id, item ids), for clicks and carts
        self.served: deque[tuple[str, str, list[str]]] = deque(maxlen=2_000)
        self._decode = msgspec.json.Decoder(Served)

    def user(self) -> str:
        return self.rng.choices(self.shop.users, cum_weights=self._users_cw)[0]

    def item(self) -> str:
        return self.rng.choices(self.shop.items, cum_weights=self._items_cw)[0]

    def rec_kind(self) -> str:
        return self.rng.choices(self._kinds, cum_weights=self._kinds_cw)[0]

    def rec_path(self, kind: str) -> str:
        """The path and query of one recommendations request of this kind."""
        base = f"/v1/pods/{POD_OF[kind]}/recommendations?"
        r = self.rng
        if kind == "pdp-similar":
            q = f"item_id={quote(self.item())}"
        elif kind == "for-you":
            q = f"user_id={quote(self.user())}"
        elif kind == "recently-viewed":
            q = f"user_id={quote(self.user())}&num_results=6"
        elif kind == "cart":
            q = "&".join(f"item_id={quote(self.item())}" for _ in range(r.randint(1, 3)))
            q += f"&user_id={quote(self.user())}"
        elif kind == "bestsellers":
            q = "num_results=10"
            if r.random() < 0.5:
                q += f"&filters%5Bcategory%5D={quote(r.choice(self.shop.categories))}"
        elif kind == "trending":
            q = "num_results=10"
        else:
            q = (f"filters%5Bcategory%5D={quote(r.choice(self.shop.categories))}"
                 f"&filters%5Bprice_max%5D={r.choice((2, 5, 10, 20))}")
        return base + q

    def remember(self, kind: str, body: bytes) -> int:
        """Keep a served response for later clicks; the number of results."""
        try:
            got = self._decode.decode(body)
        except msgspec.DecodeError:
            return -1
        ids = [str(x.get("id")) for x in got.results]
        if ids and got.result_id:
            self.served.append((POD_OF[kind], got.result_id, ids))
        return len(ids)

    def event_batch(self, size: int) -> list[dict[str, Any]]:
        """``size`` events of shoppers drawn by Zipf: views, clicks and carts attributed to
        served results, purchases with real prices."""
        out = []
        for _ in range(size):
            self._seq += 1
            kind = self.rng.choices(self._ev, cum_weights=self._ev_cw)[0]
            user = self.user()
            e: dict[str, Any] = {"event_id": f"stab-{self.run_id}-{self._seq}", "type": kind,
                                 "user_id": user, "session_id": f"stab-s-{user}"}
            if kind == "purchase":
                lines = [self.item() for _ in range(self.rng.randint(1, 3))]
                e["items"] = [{"id": i, "quantity": self.rng.randint(1, 6),
                               "price": self.shop.prices.get(i, 1.0)} for i in lines]
                e["revenue"] = round(sum(x["quantity"] * x["price"] for x in e["items"]), 2)
            elif kind in ("click", "add_to_cart") and self.served:
                pod, result_id, ids = self.served[self.rng.randrange(len(self.served))]
                e |= {"item_id": self.rng.choice(ids), "pod_id": pod, "result_id": result_id}
            else:
                e["item_id"] = self.item()
            out.append(e)
        return out

    def catalog_update(self, records: list[dict[str, Any]], new: int = 50
                       ) -> list[dict[str, Any]]:
        """A back-office update: the given item records re-priced (within 10 %) and
        ``new`` new items in the shop's categories."""
        out = [{**rec, "price": round(float(rec.get("price") or 1.0)
                                      * self.rng.uniform(0.9, 1.1), 2)} for rec in records]
        for n in range(new):
            out.append({"id": f"stab-new-{self.run_id}-{n}", "name": f"New arrival {n}",
                        "price": round(self.rng.uniform(1, 20), 2),
                        "categories": [self.rng.choice(self.shop.categories)]})
        return out


def _cumulative(ws: list[float]) -> list[float]:
    out, t = [], 0.0
    for w in ws:
        t += w
        out.append(t)
    return out
