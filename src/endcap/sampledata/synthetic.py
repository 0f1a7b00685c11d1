"""A deterministic synthetic shop with the structure recommenders feed on.

``generate_shop(n_items, n_shoppers, n_events, seed)`` builds, from ``numpy``'s
``Generator(PCG64(seed))`` alone:

- a catalog on a two-level category tree (8 top-level categories x 5 sub-categories,
  paths such as ``"Home/Kitchen"``), Zipf-distributed brands that mostly stay in one
  top-level category, lognormal prices around a per-sub-category median, ``color`` and
  (where it makes sense) ``size`` facets, and names/descriptions built from word lists
  (``"<Brand> <Adjective> <Noun> <Colour>"``) so that text similarity means something;
- ground truth, in ``item.metadata``: ``popularity_rank`` (1 = bestseller; item
  popularity is Zipf-like), ``bundle`` (complements across categories, such as a phone
  with a case and a charger, bought together far more often than chance) and ``line``
  (colour variants of one product: the same brand, adjective and noun, so substitutes);
- sessions of shoppers (``user_id`` for ~60% of shoppers, ``session_id`` always): an
  optional search, then views mostly within one sub-category following popularity, some
  clicks, an abandoned add_to_cart now and then, and in ~4% of sessions add_to_carts and a
  purchase (the last viewed item plus often members of its bundle).

There are exactly ``n_events`` events: sessions are generated until the budget is spent
and the last one is cut short. Event ids are ``f"syn-{seed}-{n}"`` (``n`` zero-padded, in
time order); events come sorted by (timestamp, event_id).
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.random import PCG64, Generator

from endcap.catalog.model import Item
from endcap.events.model import Event, EventType, Line
from endcap.sampledata.shop import SampleShop

#: 2024-01-01T00:00:00Z, the default start of the simulated period.
DEFAULT_START = 1_704_067_200.0
CURRENCY = "EUR"

# Sizes facet kinds.
_APPAREL = ("XS", "S", "M", "L", "XL")
_SHOES = tuple(str(s) for s in range(36, 47))
_VOLUME = ("30 ml", "50 ml", "100 ml", "200 ml")
_DIMS = ("small", "medium", "large")
_SIZES: dict[str, tuple[str, ...]] = {
    "apparel": _APPAREL, "shoes": _SHOES, "volume": _VOLUME, "dims": _DIMS,
}

#: top -> ((sub, median price, size kind or "", nouns), ...)
TAXONOMY: tuple[tuple[str, tuple[tuple[str, float, str, tuple[str, ...]], ...]], ...] = (
    ("Electronics", (
        ("Phones", 420.0, "", ("smartphone", "phone", "flip phone", "rugged phone")),
        ("Phone Accessories", 19.0, "", (
            "phone case", "charger", "screen protector", "usb-c cable", "power bank",
            "car mount",
        )),
        ("Audio", 79.0, "", ("headphones", "earbuds", "speaker", "soundbar", "turntable")),
        ("Computers", 780.0, "", ("laptop", "tablet", "monitor", "keyboard", "mouse")),
        ("Cameras", 520.0, "", ("camera", "lens", "tripod", "memory card", "camera bag")),
    )),
    ("Home", (
        ("Kitchen", 34.0, "", (
            "chef's knife", "frying pan", "saucepan", "cutting board", "kettle", "spatula",
        )),
        ("Bedding", 49.0, "dims", ("duvet", "pillow", "sheet set", "blanket", "throw")),
        ("Lighting", 39.0, "", ("table lamp", "floor lamp", "led bulb", "lantern")),
        ("Decor", 24.0, "dims", ("vase", "scented candle", "photo frame", "mirror", "rug")),
        ("Storage", 22.0, "dims", ("basket", "storage box", "shelf", "drawer organiser")),
    )),
    ("Fashion", (
        ("Shoes", 69.0, "shoes", ("sneakers", "boots", "sandals", "loafers")),
        ("Tops", 29.0, "apparel", ("t-shirt", "shirt", "hoodie", "sweater", "blouse")),
        ("Bottoms", 45.0, "apparel", ("jeans", "shorts", "trousers", "skirt", "chinos")),
        ("Bags", 55.0, "", ("backpack", "tote bag", "wallet", "crossbody bag")),
        ("Accessories", 25.0, "", ("belt", "scarf", "beanie", "sunglasses", "socks")),
    )),
    ("Sports", (
        ("Running", 45.0, "apparel", (
            "running shoes", "running shorts", "running jacket", "armband", "water bottle",
        )),
        ("Cycling", 59.0, "", ("bike helmet", "bike light", "cycling gloves", "bike lock")),
        ("Fitness", 35.0, "", ("yoga mat", "dumbbell", "resistance band", "kettlebell")),
        ("Outdoor", 89.0, "", ("tent", "sleeping bag", "hiking backpack", "headlamp")),
        ("Team Sports", 29.0, "", ("football", "basketball", "shin guards", "goal net")),
    )),
    ("Beauty", (
        ("Skincare", 24.0, "volume", ("moisturiser", "serum", "cleanser", "sunscreen")),
        ("Makeup", 18.0, "", ("lipstick", "mascara", "foundation", "eyeliner")),
        ("Hair", 15.0, "volume", ("shampoo", "conditioner", "hair oil", "hair dryer")),
        ("Fragrance", 52.0, "volume", ("eau de parfum", "eau de toilette", "body mist")),
        ("Bath", 9.0, "volume", ("shower gel", "bath bomb", "soap bar", "body lotion")),
    )),
    ("Toys", (
        ("Building", 39.0, "", ("building set", "magnetic tiles", "wooden blocks")),
        ("Dolls", 25.0, "", ("doll", "dollhouse", "doll clothes", "action figure")),
        ("Games", 27.0, "", ("board game", "jigsaw puzzle", "card game", "dice game")),
        ("Outdoor Play", 22.0, "", ("kite", "water pistol", "skipping rope", "scooter")),
        ("Baby", 16.0, "", ("rattle", "teether", "soft toy", "baby gym")),
    )),
    ("Garden", (
        ("Tools", 21.0, "", ("trowel", "pruning shears", "rake", "spade", "gloves")),
        ("Plants", 12.0, "dims", ("plant pot", "seed kit", "compost", "planter")),
        ("Furniture", 129.0, "", ("garden chair", "parasol", "bench", "lounger")),
        ("Watering", 27.0, "", ("garden hose", "watering can", "sprinkler", "hose reel")),
        ("BBQ", 69.0, "", ("charcoal grill", "gas grill", "bbq tongs", "grill cover")),
    )),
    ("Pets", (
        ("Dog", 24.0, "dims", ("dog bed", "dog lead", "chew toy", "dog bowl", "harness")),
        ("Cat", 21.0, "", ("cat tree", "litter tray", "scratching post", "cat toy")),
        ("Pet Food", 14.0, "", ("dry food", "wet food", "treats", "dental sticks")),
        ("Aquarium", 45.0, "", ("aquarium", "filter", "aquarium heater", "gravel")),
        ("Small Pets", 19.0, "", ("hamster cage", "hay", "exercise wheel", "water dispenser")),
    )),
)

#: sub path -> sub paths whose items complete a bundle with it (always besides its own
#: top-level siblings being possible too).
COMPLEMENTS: dict[str, tuple[str, ...]] = {
    "Electronics/Phones": ("Electronics/Phone Accessories", "Electronics/Audio"),
    "Electronics/Computers": ("Electronics/Phone Accessories", "Electronics/Audio"),
    "Electronics/Cameras": ("Electronics/Cameras", "Electronics/Phone Accessories"),
    "Electronics/Audio": ("Electronics/Phone Accessories",),
    "Home/Kitchen": ("Home/Kitchen", "Garden/BBQ"),
    "Home/Bedding": ("Home/Bedding", "Home/Lighting", "Home/Decor"),
    "Fashion/Shoes": ("Fashion/Accessories", "Fashion/Bottoms"),
    "Fashion/Tops": ("Fashion/Bottoms", "Fashion/Accessories"),
    "Fashion/Bottoms": ("Fashion/Tops", "Fashion/Shoes"),
    "Sports/Running": ("Sports/Running", "Electronics/Audio", "Sports/Fitness"),
    "Sports/Cycling": ("Sports/Cycling", "Sports/Outdoor"),
    "Sports/Outdoor": ("Sports/Outdoor", "Garden/BBQ"),
    "Beauty/Skincare": ("Beauty/Skincare", "Beauty/Bath"),
    "Beauty/Hair": ("Beauty/Hair",),
    "Beauty/Makeup": ("Beauty/Makeup", "Beauty/Fragrance"),
    "Toys/Baby": ("Toys/Baby", "Toys/Dolls"),
    "Toys/Building": ("Toys/Games",),
    "Garden/Plants": ("Garden/Tools", "Garden/Watering"),
    "Garden/BBQ": ("Garden/BBQ", "Garden/Furniture", "Home/Kitchen"),
    "Pets/Dog": ("Pets/Dog", "Pets/Pet Food"),
    "Pets/Cat": ("Pets/Cat", "Pets/Pet Food"),
    "Pets/Aquarium": ("Pets/Aquarium",),
}

ADJECTIVES = (
    "Classic", "Essential", "Urban", "Pro", "Compact", "Deluxe", "Eco", "Vintage", "Smart",
    "Ultra", "Everyday", "Premium", "Nordic", "Rustic", "Modern", "Sport", "Lite", "Soft",
    "Heritage", "Signature", "Active", "Studio", "Explorer", "Cosy",
)
COLOURS = (
    "black", "white", "grey", "navy", "blue", "red", "green", "olive", "beige", "pink",
    "yellow", "orange", "purple", "brown", "silver", "teal",
)
#: Features mentioned in descriptions, per top-level category.
FEATURES: dict[str, tuple[str, ...]] = {
    "Electronics": ("long battery life", "fast charging", "bluetooth 5.3", "water resistant",
                    "two-year warranty", "noise cancelling", "4k ready", "lightweight"),
    "Home": ("machine washable", "dishwasher safe", "made of oak", "recycled materials",
             "easy to clean", "scandinavian design", "hand finished", "stackable"),
    "Fashion": ("organic cotton", "slim fit", "relaxed fit", "breathable", "vegan leather",
                "recycled polyester", "all-season", "water repellent"),
    "Sports": ("breathable", "lightweight", "reflective details", "quick dry", "non-slip",
               "shock absorbing", "packable", "ergonomic grip"),
    "Beauty": ("fragrance free", "vegan formula", "for sensitive skin", "spf 30", "hydrating",
               "dermatologist tested", "refillable", "long lasting"),
    "Toys": ("ages 3+", "ages 6+", "wooden", "battery free", "educational", "washable",
             "travel size", "cooperative play"),
    "Garden": ("weatherproof", "rust resistant", "foldable", "frost hardy", "fsc wood",
               "uv resistant", "easy assembly", "ergonomic grip"),
    "Pets": ("grain free", "machine washable", "chew resistant", "for small breeds",
             "for large breeds", "natural ingredients", "non-slip", "easy to clean"),
}
_SYLLABLES_A = (
    "Zen", "Kor", "Alt", "Nov", "Bri", "Lum", "Ver", "Oak", "Tru", "Pix", "Mar", "Sol",
    "Kai", "Fen", "Rio", "Vel", "Tor", "Ash", "Bel", "Cas", "Dun", "Elk", "Hal", "Jun",
)
_SYLLABLES_M = ("", "a", "e", "i", "o", "u", "ar", "el", "in", "or", "an", "is")
_SYLLABLES_B = (
    "tra", "vo", "ix", "ora", "ell", "ido", "ex", "ana", "um", "eo", "ly", "co", "dor",
    "ska", "net", "wood", "line", "ford",
)
#: Relative session-start weight per hour of the day (UTC).
_HOURS = np.array([
    1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 3.5, 3.5, 3.6, 4, 3.8, 3.5, 3.5, 3.6, 4, 4.5, 5,
    5.2, 4.6, 3.4, 2,
])

# Behaviour parameters.
ZIPF_ITEMS = 1.05      # item popularity ~ 1 / rank**ZIPF_ITEMS
ZIPF_BRANDS = 1.0      # brand share ~ 1 / rank**ZIPF_BRANDS
BRAND_HOME = 0.85      # share of an item's brand draws from brands of its top category
IN_STOCK = 0.93        # share of items in stock
VARIANT = 0.3          # share of items that are a colour variant of an earlier item
BUNDLED = 0.15         # bundles per item (each has 2-4 members)
USER_SHARE = 0.6       # share of shoppers with a user_id
FAVOURITE_TOP = 0.5    # share of a shopper's sessions in their favourite top category
SEARCH = 0.12          # sessions that start with a search
IN_SUB = 0.85          # views within the session's sub-category (else anywhere)
CLICK = 0.12           # views preceded by a click on the item
MEAN_VIEWS = 3.3       # mean views per session (geometric)
MAX_VIEWS = 25
REDRAWS = 3            # draws to find an item not yet viewed in the session
CONVERT = 0.045        # sessions that try to buy (fewer succeed: out-of-stock items)
ABANDON = 0.08         # other sessions that add an item to the cart and leave
BUNDLE_TAKE = 0.6      # chance a buyer also views and buys each other bundle member
EXTRA_ITEM = 0.2       # chance a buyer also buys another item viewed in the session
_TYPES: tuple[EventType, ...] = ("view", "click", "add_to_cart", "purchase", "search")
_VIEW, _CLICK, _CART, _PURCHASE, _SEARCH = range(5)
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class _Sub:
    top: str
    path: str
    price: float
    size_kind: str
    nouns: tuple[str, ...]


def _subs() -> list[_Sub]:
    return [
        _Sub(top, f"{top}/{sub}", price, size, nouns)
        for top, subs in TAXONOMY
        for sub, price, size, nouns in subs
    ]


class _Draws:
    """Random numbers drawn ahead in chunks, cheap to take one at a time from Python.

    By default uniform on [0, 1); ``draw(rng, n)`` gives another distribution.
    """

    __slots__ = ("_buf", "_draw", "_i", "_rng")

    def __init__(
        self, rng: Generator, draw: Callable[[Generator, int], np.ndarray] | None = None
    ) -> None:
        self._rng = rng
        self._draw = draw
        self._buf: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        if self._i >= len(self._buf):
            chunk = self._rng.random(_CHUNK) if self._draw is None else self._draw(
                self._rng, _CHUNK
            )
            self._buf = chunk.tolist()
            self._i = 0
        x = self._buf[self._i]
        self._i += 1
        return x


def _gaps(rng: Generator, n: int) -> np.ndarray:
    """Seconds between two events of a session: median 25 s, from 1 s to 15 min."""
    return np.clip(rng.lognormal(math.log(25.0), 0.8, size=n), 1.0, 900.0)


def _brand_names(rng: Generator, n: int) -> list[str]:
    combos = [
        a + m + b for a, m, b in itertools.product(_SYLLABLES_A, _SYLLABLES_M, _SYLLABLES_B)
    ]
    order = rng.permutation(len(combos))
    names = [combos[i] for i in order[:n]]
    k = 2
    while len(names) < n:  # more brands than syllable combinations: number them
        names.extend(f"{combos[i]} {k}" for i in order[: n - len(names)])
        k += 1
    return names


def _title(text: str) -> str:
    """``"chef's knife"`` -> ``"Chef's Knife"`` (``str.title`` would say ``"Chef'S"``)."""
    return " ".join(w[:1].upper() + w[1:] for w in text.split())


def _pretty_price(x: float) -> float:
    if x >= 5:
        return math.floor(x) + 0.99
    return max(0.49, round(x, 2))


def _cum(weights: np.ndarray) -> list[float]:
    return np.cumsum(weights).tolist()  # type: ignore[no-any-return]


def _pick(cum: list[float], u: float) -> int:
    """Index drawn with probability proportional to the weights behind ``cum``."""
    return min(bisect_right(cum, u * cum[-1]), len(cum) - 1)


@dataclass(slots=True)
class _Catalog:
    items: list[Item]
    sub_of: np.ndarray          # item -> sub index
    price: list[float]
    in_stock: list[bool]
    bundle_of: list[int]        # item -> bundle index or -1
    bundles: list[list[int]]
    popularity: np.ndarray      # item -> weight
    nouns: list[str]            # item -> noun
    colours: list[str]          # item -> colour


def _catalog(rng: Generator, n_items: int, start: float) -> _Catalog:
    subs = _subs()
    n_subs = len(subs)
    tops = sorted({s.top for s in subs}, key=[s.top for s in subs].index)
    top_of_sub = np.array([tops.index(s.top) for s in subs])
    # Sub-category sizes vary: Dirichlet shares.
    sub_share = rng.dirichlet(np.full(n_subs, 4.0))
    sub_of = rng.choice(n_subs, size=n_items, p=sub_share)
    top_of = top_of_sub[sub_of]

    # Brands: Zipf shares, each with a home top-level category.
    n_brands = max(1, n_items // 20)
    brand_names = _brand_names(rng, n_brands)
    brand_w = 1.0 / np.arange(1, n_brands + 1) ** ZIPF_BRANDS
    brand_home = rng.integers(0, len(tops), size=n_brands)
    brand_of = np.empty(n_items, dtype=np.int64)
    global_cum = np.cumsum(brand_w)
    for t in range(len(tops)):
        idx = np.flatnonzero(top_of == t)
        home = np.flatnonzero(brand_home == t)
        u_any = rng.random(idx.size) * global_cum[-1]
        any_pick = np.minimum(np.searchsorted(global_cum, u_any, side="right"), n_brands - 1)
        if home.size:
            home_cum = np.cumsum(brand_w[home])
            u_home = rng.random(idx.size) * home_cum[-1]
            h = np.minimum(np.searchsorted(home_cum, u_home, side="right"), home.size - 1)
            use_home = rng.random(idx.size) < BRAND_HOME
            brand_of[idx] = np.where(use_home, home[h], any_pick)
        else:
            brand_of[idx] = any_pick

    adj_of = rng.integers(0, len(ADJECTIVES), size=n_items)
    noun_u = rng.random(n_items)
    colour_of = rng.integers(0, len(COLOURS), size=n_items)
    size_u = rng.random(n_items)
    feat = rng.integers(0, 8, size=(n_items, 2))
    raw_price = np.exp(rng.normal(0.0, 0.45, size=n_items))
    variant_u = rng.random(n_items)
    root_u = rng.random(n_items)
    variant_price = np.exp(rng.normal(0.0, 0.04, size=n_items))
    in_stock = (rng.random(n_items) < IN_STOCK).tolist()
    age = rng.random(n_items) * 365 * 86_400.0
    # Zipf-like popularity over a random ranking of the items.
    rank_of = rng.permutation(n_items)  # 0 = bestseller
    popularity = 1.0 / (rank_of + 1.0) ** ZIPF_ITEMS

    # Colour variants ("lines"): copy brand, adjective and noun of an earlier item of the
    # same sub-category; only the colour (and the price, a little) changes.
    line_of = np.arange(n_items)
    noun_idx = np.array([int(noun_u[i] * len(subs[sub_of[i]].nouns)) for i in range(n_items)])
    seen_in_sub: list[list[int]] = [[] for _ in range(n_subs)]
    price: list[float] = [0.0] * n_items
    for i in range(n_items):
        s = int(sub_of[i])
        earlier = seen_in_sub[s]
        if earlier and variant_u[i] < VARIANT:
            root = int(line_of[earlier[int(root_u[i] * len(earlier))]])
            line_of[i] = root
            brand_of[i] = brand_of[root]
            adj_of[i] = adj_of[root]
            noun_idx[i] = noun_idx[root]
            if colour_of[i] == colour_of[root]:
                colour_of[i] = (colour_of[i] + 1) % len(COLOURS)
            price[i] = _pretty_price(price[root] * float(variant_price[i]))
        else:
            price[i] = _pretty_price(subs[s].price * float(raw_price[i]))
        earlier.append(i)
    line_size = np.bincount(line_of, minlength=n_items)

    # Bundles: an anchor plus 1-3 complements from other (or the same) sub-categories.
    sub_index = {s.path: k for k, s in enumerate(subs)}
    free: list[list[int]] = [
        [int(i) for i in rng.permutation(np.flatnonzero(sub_of == k))] for k in range(n_subs)
    ]
    bundle_of = [-1] * n_items
    bundles: list[list[int]] = []
    n_bundles = round(BUNDLED * n_items)
    sizes = rng.choice([2, 3, 4], size=max(n_bundles, 1), p=[0.5, 0.3, 0.2])
    u = _Draws(rng)
    for anchor in rng.permutation(n_items).tolist():
        if len(bundles) >= n_bundles:
            break
        if bundle_of[anchor] >= 0:
            continue
        s = int(sub_of[anchor])
        path = subs[s].path
        partners = COMPLEMENTS.get(path, ()) + tuple(
            o.path for o in subs if o.top == subs[s].top and o.path != path
        )
        members = [anchor]
        for _ in range(int(sizes[len(bundles)]) - 1):
            other = sub_index[partners[int(u() * len(partners))]]
            pool = free[other]
            while pool and (bundle_of[pool[-1]] >= 0 or pool[-1] in members):
                pool.pop()
            if pool:
                members.append(pool.pop())
        if len(members) >= 2:
            for m in members:
                bundle_of[m] = len(bundles)
            bundles.append(members)

    items: list[Item] = []
    width = max(6, len(str(n_items - 1)))
    for i in range(n_items):
        sc = subs[int(sub_of[i])]
        brand = brand_names[int(brand_of[i])]
        adj = ADJECTIVES[int(adj_of[i])]
        noun = sc.nouns[int(noun_idx[i])]
        colour = COLOURS[int(colour_of[i])]
        feats = FEATURES[sc.top]
        f1, f2 = feats[int(feat[i, 0])], feats[int(feat[i, 1])]
        features = f1 if f1 == f2 else f"{f1}, {f2}"
        facets: dict[str, str | list[str]] = {"color": colour}
        if sc.size_kind:
            choices = _SIZES[sc.size_kind]
            facets["size"] = choices[int(size_u[i] * len(choices))]
        meta: dict[str, object] = {"synthetic": True, "popularity_rank": int(rank_of[i]) + 1}
        if bundle_of[i] >= 0:
            meta["bundle"] = f"bundle-{bundle_of[i]}"
        if line_size[line_of[i]] > 1:
            meta["line"] = f"line-{int(line_of[i])}"
        items.append(Item(
            id=f"sku-{i:0{width}d}",
            name=f"{brand} {adj} {_title(noun)} {colour.title()}",
            description=(
                f"{adj} {noun} by {brand} in {colour}: {features}. "
                f"Part of our {sc.path.replace('/', ' / ').lower()} range."
            ),
            url=f"https://shop.example/p/sku-{i:0{width}d}",
            price=price[i],
            currency=CURRENCY,
            categories=[sc.path],
            brand=brand,
            facets=facets,
            in_stock=bool(in_stock[i]),
            created_at=datetime.fromtimestamp(round(start - float(age[i])), UTC),
            metadata=meta,
        ))
    nouns = [subs[int(sub_of[i])].nouns[int(noun_idx[i])] for i in range(n_items)]
    return _Catalog(
        items=items, sub_of=sub_of, price=price, in_stock=in_stock, bundle_of=bundle_of,
        bundles=bundles, popularity=popularity, nouns=nouns,
        colours=[COLOURS[int(c)] for c in colour_of],
    )


def generate_shop(
    n_items: int,
    n_shoppers: int,
    n_events: int,
    seed: int = 0,
    start: float = DEFAULT_START,
    days: int = 30,
) -> SampleShop:
    """A synthetic shop: ``n_items`` items, ``n_events`` events by up to ``n_shoppers``.

    Deterministic for given arguments. Every shopper gets at least one session when the
    event budget allows (about four events a session); the busier shoppers get more.
    """
    if n_items < 1 or n_shoppers < 1 or n_events < 0 or days < 1:
        raise ValueError("n_items, n_shoppers and days must be >= 1, n_events >= 0")
    rng = Generator(PCG64(seed))
    cat = _catalog(rng, n_items, start)
    subs = _subs()
    n_subs = len(subs)
    tops = sorted({s.top for s in subs}, key=[s.top for s in subs].index)
    end = start + days * 86_400.0

    # Popularity pickers: per sub-category, and over the whole catalog.
    members = [np.flatnonzero(cat.sub_of == k) for k in range(n_subs)]
    sub_items = [m.tolist() for m in members]
    sub_cum = [_cum(cat.popularity[m]) if m.size else [] for m in members]
    all_cum = _cum(cat.popularity)
    sub_mass = np.array([cat.popularity[m].sum() for m in members])
    top_subs = [[k for k in range(n_subs) if subs[k].top == t] for t in tops]

    # Shoppers: a user_id for some, an activity level, a favourite top-level category.
    user_ids = [
        f"user-{i}" if known else None
        for i, known in enumerate((rng.random(n_shoppers) < USER_SHARE).tolist())
    ]
    activity_cum = np.cumsum(rng.lognormal(0.0, 1.0, size=n_shoppers))
    top_mass = np.array([sub_mass[ks].sum() for ks in top_subs])
    favourite = rng.choice(len(tops), size=n_shoppers, p=top_mass / top_mass.sum())
    first_round = rng.permutation(n_shoppers)
    sub_in_top_cum = [np.cumsum(sub_mass[ks]) for ks in top_subs]
    sub_cum_all = np.cumsum(sub_mass)
    hour_p = _HOURS / _HOURS.sum()

    u = _Draws(rng)
    gap = _Draws(rng, _gaps)
    ev_type: list[int] = []
    ev_session: list[int] = []
    ev_item: list[int] = []
    ev_ts: list[float] = []
    purchases: dict[int, list[tuple[int, int]]] = {}  # event index -> [(item, quantity)]
    queries: dict[int, str] = {}
    session_shopper: list[int] = []
    n_sessions = 0
    batch = 4096
    while len(ev_type) < n_events:
        # Session-level draws, vectorised per batch of sessions.
        k = np.arange(n_sessions, n_sessions + batch)
        weighted = np.minimum(
            np.searchsorted(activity_cum, rng.random(batch) * activity_cum[-1], side="right"),
            n_shoppers - 1,
        )
        shopper = np.where(k < n_shoppers, first_round[np.minimum(k, n_shoppers - 1)], weighted)
        fav = favourite[shopper]
        in_fav = rng.random(batch) < FAVOURITE_TOP
        u_sub = rng.random(batch)
        sub_any = np.minimum(
            np.searchsorted(sub_cum_all, u_sub * sub_cum_all[-1], side="right"), n_subs - 1
        )
        sub = sub_any.copy()
        for t in range(len(tops)):
            sel = in_fav & (fav == t)
            cum = sub_in_top_cum[t]
            pos = np.minimum(np.searchsorted(cum, u_sub[sel] * cum[-1], side="right"),
                             len(cum) - 1)
            sub[sel] = np.array(top_subs[t])[pos]
        n_views = np.minimum(rng.geometric(1.0 / MEAN_VIEWS, size=batch), MAX_VIEWS)
        intent = rng.random(batch)  # < CONVERT: buys; < CONVERT + ABANDON: abandons
        searches = rng.random(batch) < SEARCH
        day = rng.integers(0, days, size=batch)
        hour = rng.choice(24, size=batch, p=hour_p)
        starts = start + day * 86_400.0 + hour * 3_600.0 + rng.random(batch) * 3_600.0
        for j in range(batch):
            if len(ev_type) >= n_events:
                break
            sid = n_sessions
            n_sessions += 1
            session_shopper.append(int(shopper[j]))
            s = int(sub[j])
            first = len(ev_type)
            clock = float(starts[j])

            def emit(kind: int, item: int, sid: int = sid) -> int:
                nonlocal clock
                clock += gap()
                ev_type.append(kind)
                ev_session.append(sid)
                ev_item.append(item)
                ev_ts.append(clock)
                return len(ev_type) - 1

            if searches[j] and sub_items[s]:
                q_item = sub_items[s][_pick(sub_cum[s], u())]
                query = cat.nouns[q_item]
                if u() < 0.3:
                    query = f"{cat.colours[q_item]} {query}"
                queries[emit(_SEARCH, -1)] = query
            viewed: list[int] = []
            item = -1
            for _ in range(int(n_views[j])):
                for _attempt in range(REDRAWS):  # shoppers rarely re-view an item
                    if sub_items[s] and u() < IN_SUB:
                        item = sub_items[s][_pick(sub_cum[s], u())]
                    else:
                        item = _pick(all_cum, u())
                    if item not in viewed:
                        break
                if u() < CLICK:
                    emit(_CLICK, item)
                emit(_VIEW, item)
                viewed.append(item)
            buyable = [i for i in viewed if cat.in_stock[i]]
            if intent[j] < CONVERT and buyable:
                anchor = buyable[-1]
                cart = [anchor]
                emit(_CART, anchor)
                b = cat.bundle_of[anchor]
                if b >= 0:
                    for m in cat.bundles[b]:
                        if m != anchor and u() < BUNDLE_TAKE:
                            emit(_VIEW, m)
                            if cat.in_stock[m]:
                                emit(_CART, m)
                                cart.append(m)
                extra = [i for i in buyable if i not in cart]
                if extra and u() < EXTRA_ITEM:
                    m = extra[int(u() * len(extra))]
                    emit(_CART, m)
                    cart.append(m)
                basket = []
                for m in cart:
                    r = u()
                    basket.append((m, 1 if r < 0.85 else 2 if r < 0.95 else 3))
                purchases[emit(_PURCHASE, -1)] = basket
            elif intent[j] < CONVERT + ABANDON and buyable:
                emit(_CART, buyable[int(u() * len(buyable))])
            # Keep the session inside the period: move it earlier if it runs past the end.
            overrun = ev_ts[-1] - (end - 1.0)
            if overrun > 0:
                for e in range(first, len(ev_ts)):
                    ev_ts[e] -= overrun

    # Cut the last session short to spend exactly n_events; number events in time order.
    del ev_type[n_events:], ev_session[n_events:], ev_item[n_events:], ev_ts[n_events:]
    ts = np.round(np.asarray(ev_ts, dtype=np.float64), 3)
    order = np.argsort(ts, kind="stable").tolist()
    ts_list = ts.tolist()
    width = len(str(max(n_events - 1, 0)))
    events: list[Event] = []
    append = events.append
    for n, e in enumerate(order):
        kind = ev_type[e]
        sid = ev_session[e]
        eid = f"syn-{seed}-{n:0{width}d}"
        user = user_ids[session_shopper[sid]]
        session = f"sess-{sid}"
        if kind == _PURCHASE:
            lines = [Line(id=cat.items[m].id, quantity=q, price=cat.price[m])
                     for m, q in purchases[e]]
            revenue = round(sum(q * cat.price[m] for m, q in purchases[e]), 2)
            append(Event(event_id=eid, type="purchase", user_id=user, session_id=session,
                         items=lines, revenue=revenue, timestamp=ts_list[e]))
        elif kind == _SEARCH:
            append(Event(event_id=eid, type="search", user_id=user, session_id=session,
                         query=queries[e], timestamp=ts_list[e]))
        else:
            append(Event(event_id=eid, type=_TYPES[kind], user_id=user, session_id=session,
                         item_id=cat.items[ev_item[e]].id, timestamp=ts_list[e]))

    n_buy = sum(1 for k in ev_type if k == _PURCHASE)
    description = (
        f"Synthetic shop (seed {seed}): {n_items:,} items in {n_subs} sub-categories of "
        f"{len(tops)} top-level categories, {max(1, n_items // 20):,} brands, "
        f"{len(cat.bundles):,} bundles of complements; {len(events):,} events "
        f"({n_buy:,} purchases) in {n_sessions:,} sessions of up to {n_shoppers:,} shoppers "
        f"over {days} days from {datetime.fromtimestamp(start, UTC):%Y-%m-%d}."
    )
    return SampleShop(items=cat.items, events=events, description=description)
