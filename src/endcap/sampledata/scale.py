"""A synthetic shop built for cost benchmarks: millions of events in seconds.

:func:`generate_scale_shop` returns the catalog as :class:`~endcap.catalog.model.Item`
objects and the behaviour directly as trainer columns
(:class:`~endcap.train.interactions.Interactions`), every step vectorised with numpy, so
that 1M items and 10M events take seconds where :mod:`endcap.sampledata.synthetic`'s
event-by-event simulation would take many minutes. :meth:`ScaleShop.events` turns the
columns into :class:`~endcap.events.model.Event` objects for small shops (tests, parity
with :func:`~endcap.train.interactions.collect`).

The structure, deterministic for a given seed:

- items on the 40 sub-categories of :data:`~endcap.sampledata.synthetic.TAXONOMY`, with
  Zipf popularity (``1 / rank ** zipf``) over a random ranking; brands (one per 20 items,
  Zipf shares, mostly in one top-level category); names ``"<Brand> <Adjective> <Noun>
  <Colour>"``, a third of them colour variants of another item of the same line, so
  text similarity has real work (and common words) to deal with;
- each item has a place in its sub-category's circle of *styles*: a session's views
  cluster around an anchor item in that circle, which gives item-level co-views beyond
  "same category"; each item also has two *partners* in complementary sub-categories
  (:data:`~endcap.sampledata.synthetic.COMPLEMENTS`), which buyers often buy with it;
- shoppers with Zipf–Mandelbrot activity (``1 / (rank + q) ** 1``, q = shoppers / 1000:
  a heavy tail without one shopper owning the log), 60% of them known by a user id (the
  others' sessions are anonymous, each its own shopper), each with a favourite
  sub-category and a *staple* (a consumable they rebuy: repeat purchases);
- sessions of clicks and views (~3.5 views), an abandoned cart in 8%, and a purchase in
  4.5%: the anchor's basket plus, often, its partners and the shopper's staple.

Kinds come out at roughly 84% views, 10% clicks, 4% carts and 1% purchases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from numpy.random import PCG64, Generator

from endcap.catalog.model import Item
from endcap.events.model import Event, EventType, Line
from endcap.sampledata.synthetic import (
    ADJECTIVES,
    COLOURS,
    COMPLEMENTS,
    CURRENCY,
    DEFAULT_START,
    FEATURES,
    TAXONOMY,
)
from endcap.train.interactions import CART, CLICK, PURCHASE, VIEW, Interactions

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

ZIPF_ITEMS = 1.1          # item popularity ~ 1 / rank ** ZIPF_ITEMS
ZIPF_BRANDS = 1.0
BRAND_HOME = 0.85         # share of an item's brand draws from its top category's brands
VARIANT = 0.3             # items that are a colour variant of another item of the sub
USER_SHARE = 0.6          # shoppers known by a user id
IN_FAVOURITE = 0.5        # sessions in the shopper's favourite sub-category
MEAN_VIEWS = 3.5          # geometric, capped at MAX_VIEWS
MAX_VIEWS = 25
NEAR_ANCHOR = 0.5         # views near the session's anchor in its sub-category's styles
IN_SUB = 0.35             # views by popularity within the sub-category (the rest: anywhere)
STYLE_STEP = 0.35         # geometric parameter of the distance to the anchor
CLICK_SHARE = 0.12        # views preceded by a click
BUY = 0.045               # sessions that end in a purchase
ABANDON = 0.08            # sessions that leave an item in the cart
PARTNER_TAKE = 0.4        # chance a buyer also buys each of the anchor's two partners
STAPLE_TAKE = 0.3         # chance a known buyer also rebuys their staple
#: Sub-categories of things people buy again.
CONSUMABLES = ("Pets/Pet Food", "Beauty/Bath", "Beauty/Hair", "Beauty/Skincare",
               "Beauty/Makeup", "Garden/Plants", "Pets/Small Pets", "Home/Kitchen")
_SYLLABLES = ("ka", "lo", "ve", "tri", "mar", "zen", "qu", "or", "bel", "dun", "fi", "sa",
              "no", "ra", "pex", "ly", "tor", "ash", "el", "vi", "co", "mu", "ten", "ix")
_HOURS = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 3.5, 3.5, 3.6, 4, 3.8, 3.5, 3.5,
                   3.6, 4, 4.5, 5, 5.2, 4.6, 3.4, 2])
#: The extra slack of sessions drawn before the log is cut to exactly n_events.
_SESSION_SLACK = 1.15
_EVENTS_PER_SESSION = 4.2


@dataclass(frozen=True, slots=True)
class ScaleShop:
    """A synthetic catalog and its log as trainer columns (``rows.item`` indexes
    ``items``; events are numbered in time order)."""

    items: list[Item]
    rows: Interactions
    #: Per shopper code (``rows.shopper``): the user's index, or -1 for an anonymous
    #: session's shopper.
    user_of: I64
    seed: int

    @property
    def n_events(self) -> int:
        return int(self.rows.event[-1]) + 1 if len(self.rows) else 0

    def events(self) -> list[Event]:
        """The log as events, sorted by time, that :func:`~endcap.train.interactions.collect`
        turns back into the same rows (up to the numbering of shoppers and sessions).
        One Python object per event: for small shops."""
        r = self.rows
        kinds: tuple[EventType, ...] = ("view", "click", "add_to_cart", "purchase")
        starts = np.flatnonzero(np.r_[True, r.event[1:] != r.event[:-1]])
        ends = np.r_[starts[1:], len(r)]
        width = len(str(max(self.n_events - 1, 0)))
        ids = [it.id for it in self.items]
        out: list[Event] = []
        for n, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            user = int(self.user_of[r.shopper[a]])
            kind = kinds[int(r.kind[a])]
            bought = kind == "purchase"
            out.append(Event(
                event_id=f"scale-{self.seed}-{n:0{width}d}", type=kind,
                user_id=f"user-{user}" if user >= 0 else None,
                session_id=f"sess-{int(r.session[a])}",
                item_id=None if bought else ids[int(r.item[a])],
                items=[Line(id=ids[int(i)], quantity=int(q))
                       for i, q in zip(r.item[a:b], r.quantity[a:b], strict=True)]
                if bought else None,
                timestamp=float(r.time[a]),
            ))
        return out


@dataclass(frozen=True, slots=True)
class _Catalog:
    items: list[Item]
    sub_of: I64
    #: Each sub-category's range in the orders below, and its share of all popularity.
    sub_start: I64
    sub_size: I64
    sub_mass: F64
    #: Items by popularity (best first): over the catalog, and within each sub-category.
    by_rank: I64
    by_rank_in_sub: I64
    #: Items sorted by (sub-category, style); ``style_pos`` is the inverse.
    by_style: I64
    style_pos: I64
    #: Two complements of each item (n × 2).
    partners: I64


def generate_scale_shop(n_items: int, *, events_per_item: float = 10.0,
                        shoppers_per_item: float = 1.0, seed: int = 0, days: int = 60,
                        start: float = DEFAULT_START) -> ScaleShop:
    """A shop of ``n_items`` items and ``round(events_per_item * n_items)`` events by up
    to ``shoppers_per_item * n_items`` shoppers over ``days`` days (see the module's
    docstring for its structure). Deterministic for given arguments."""
    if n_items < 1 or events_per_item < 0 or shoppers_per_item <= 0 or days < 1:
        raise ValueError("n_items and days must be >= 1, events_per_item >= 0, "
                         "shoppers_per_item > 0")
    rng = Generator(PCG64(seed))
    cat = _catalog(rng, n_items, start)
    n_events = round(events_per_item * n_items)
    n_shoppers = max(1, round(shoppers_per_item * n_items))
    rows, user_of = _log(rng, cat, n_events, n_shoppers, start, days)
    return ScaleShop(items=cat.items, rows=rows, user_of=user_of, seed=seed)


def zipf_ranks(u: F64, size: I64 | int, exponent: float) -> I64:
    """Ranks 0..size-1 drawn with weight (rank + 1) ** -exponent, by inverting the
    continuous distribution at the uniforms ``u``: O(1) a draw, no table."""
    size_f = np.asarray(size, np.float64)
    if exponent == 1.0:
        x = np.exp(u * np.log(size_f + 1.0)) - 1.0
    else:
        one = 1.0 - exponent
        x = (1.0 + u * ((size_f + 1.0) ** one - 1.0)) ** (1.0 / one) - 1.0
    out: I64 = np.minimum(x.astype(np.int64), np.asarray(size, np.int64) - 1)
    return out


def _pick(rng: Generator, weights: F64, n: int) -> I64:
    """``n`` indices drawn in proportion to ``weights`` (a short array)."""
    cum = np.cumsum(weights)
    at = np.searchsorted(cum, rng.random(n) * cum[-1], side="right")
    out: I64 = np.minimum(at, len(cum) - 1).astype(np.int64)
    return out


def _brand_names(n: int) -> list[str]:
    """``n`` distinct invented brand names: the index written in syllables."""
    base = len(_SYLLABLES)
    names = []
    for k in range(n):
        parts, x = [], k + base  # at least two syllables
        while x:
            x, d = divmod(x, base)
            parts.append(_SYLLABLES[d])
        names.append("".join(reversed(parts)).capitalize())
    return names


def _catalog(rng: Generator, n: int, start: float) -> _Catalog:
    subs = [(top, f"{top}/{sub}", price, size, nouns)
            for top, entries in TAXONOMY for sub, price, size, nouns in entries]
    tops = [top for top, _ in TAXONOMY]
    n_subs = len(subs)
    top_of_sub = np.array([tops.index(s[0]) for s in subs])
    sub_of = rng.choice(n_subs, size=n, p=rng.dirichlet(np.full(n_subs, 4.0))).astype(np.int64)
    rank = rng.permutation(n).astype(np.int64)  # 0 = bestseller
    sub_size = np.bincount(sub_of, minlength=n_subs).astype(np.int64)
    sub_start = np.r_[0, np.cumsum(sub_size)[:-1]].astype(np.int64)
    sub_mass = np.bincount(sub_of, weights=(rank + 1.0) ** -ZIPF_ITEMS,
                           minlength=n_subs).astype(np.float64)
    by_rank = np.argsort(rank).astype(np.int64)
    by_rank_in_sub = by_rank[np.argsort(sub_of[by_rank], kind="stable")]

    # Brands: Zipf shares, each with a home top-level category most of its items are in.
    n_brands = max(1, n // 20)
    brand_w: F64 = np.arange(1, n_brands + 1, dtype=np.float64) ** -ZIPF_BRANDS
    brand_home = rng.integers(0, len(tops), size=n_brands)
    brand_of = _pick(rng, brand_w, n)
    top_of = top_of_sub[sub_of]
    at_home = rng.random(n) < BRAND_HOME
    for t in range(len(tops)):
        home = np.flatnonzero(brand_home == t)
        mine = np.flatnonzero(at_home & (top_of == t))
        if len(home):
            brand_of[mine] = home[_pick(rng, brand_w[home], len(mine))]
    adj_of = rng.integers(0, len(ADJECTIVES), size=n)
    n_nouns = np.array([len(s[4]) for s in subs])
    noun_of = (rng.random(n) * n_nouns[sub_of]).astype(np.int64)
    colour_of = rng.integers(0, len(COLOURS), size=n)

    # Styles: a random circle per sub-category.
    by_style = np.lexsort((rng.random(n), sub_of)).astype(np.int64)
    style_pos = np.empty(n, np.int64)
    style_pos[by_style] = np.arange(n)

    # Colour variants: the item copies brand, adjective and noun of its style
    # neighbour, so a line's items are alike in name and in who looks at them.
    variant = rng.random(n) < VARIANT
    sub = sub_of[variant]
    root = by_style[sub_start[sub] + (style_pos[variant] - sub_start[sub] + 1) % sub_size[sub]]
    brand_of[variant], adj_of[variant] = brand_of[root], adj_of[root]
    noun_of[variant] = noun_of[root]
    colour_of[variant] = (colour_of[root] + 1 + rng.integers(0, len(COLOURS) - 1,
                                                             int(variant.sum()))) % len(COLOURS)

    # Partners: two popular items of complementary sub-categories (else of its own).
    sub_index = {s[1]: k for k, s in enumerate(subs)}
    partner_subs = [[sub_index[p] for p in COMPLEMENTS.get(s[1], ())]
                    + [sub_index[o[1]] for o in subs if o[0] == s[0] and o[1] != s[1]]
                    for s in subs]
    width = max(len(p) for p in partner_subs)
    table = np.array([(p * width)[:width] for p in partner_subs], np.int64)
    own = np.repeat(sub_of, 2)
    psub = table[own, rng.integers(0, width, 2 * n)]
    psub = np.where(sub_size[psub] > 0, psub, own)
    partners = by_rank_in_sub[sub_start[psub]
                              + zipf_ranks(rng.random(2 * n), sub_size[psub], ZIPF_ITEMS)]

    price_mult = np.exp(rng.normal(0.0, 0.45, size=n))
    feats = rng.integers(0, 8, size=(n, 2))
    age = rng.random(n) * 365 * 86_400.0
    brands = _brand_names(n_brands)
    sizes = {"apparel": ("XS", "S", "M", "L", "XL"), "shoes": tuple(map(str, range(36, 47))),
             "volume": ("30 ml", "50 ml", "100 ml", "200 ml"),
             "dims": ("small", "medium", "large")}
    titled = [tuple(x.title() for x in s[4]) for s in subs]
    size_u = rng.random(n).tolist()
    digits = max(6, len(str(n - 1)))
    items = []
    for i, (s, b, a, no, c, pm, f, ag, su) in enumerate(zip(
            sub_of.tolist(), brand_of.tolist(), adj_of.tolist(), noun_of.tolist(),
            colour_of.tolist(), price_mult.tolist(), feats.tolist(), age.tolist(), size_u,
            strict=True)):
        top, path, median, size_kind, nouns = subs[s]
        brand, adj, noun, colour = brands[b], ADJECTIVES[a], nouns[no], COLOURS[c]
        f1, f2 = FEATURES[top][f[0]], FEATURES[top][f[1]]
        facets: dict[str, str | list[str]] = {"color": colour}
        if size_kind:
            facets["size"] = sizes[size_kind][int(su * len(sizes[size_kind]))]
        items.append(Item(
            id=f"sku-{i:0{digits}d}",
            name=f"{brand} {adj} {titled[s][no]} {colour.title()}",
            description=f"{adj} {noun} by {brand} in {colour}: "
                        f"{f1 if f1 == f2 else f'{f1}, {f2}'}.",
            price=_pretty_price(median * pm), currency=CURRENCY, categories=[path],
            brand=brand, facets=facets,
            created_at=datetime.fromtimestamp(round(start - ag), UTC),
        ))
    return _Catalog(items=items, sub_of=sub_of, sub_start=sub_start, sub_size=sub_size,
                    sub_mass=sub_mass, by_rank=by_rank, by_rank_in_sub=by_rank_in_sub,
                    by_style=by_style, style_pos=style_pos, partners=partners.reshape(n, 2))


def _pretty_price(x: float) -> float:
    return math.floor(x) + 0.99 if x >= 5 else max(0.49, round(x, 2))


def _within(counts: I64) -> I64:
    """0, 1, ..., counts[g] - 1 for each group g, concatenated."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)


def _popular_in(rng: Generator, cat: _Catalog, sub: I64) -> I64:
    """One item of each sub-category of ``sub``, drawn by popularity."""
    k = zipf_ranks(rng.random(len(sub)), cat.sub_size[sub], ZIPF_ITEMS)
    out: I64 = cat.by_rank_in_sub[cat.sub_start[sub] + k]
    return out


def _log(rng: Generator, cat: _Catalog, n_events: int, n_shoppers: int, start: float,
         days: int) -> tuple[Interactions, I64]:
    n = len(cat.items)
    n_sess = max(16, math.ceil(n_events / _EVENTS_PER_SESSION * _SESSION_SLACK))

    # Shoppers (numbered by activity): Zipf-Mandelbrot activity, a favourite
    # sub-category (by popularity), a staple among the consumables.
    q = max(1.0, n_shoppers / 1000)
    known = rng.random(n_shoppers) < USER_SHARE
    favourite = _pick(rng, cat.sub_mass, n_shoppers)
    paths = [f"{top}/{sub}" for top, entries in TAXONOMY for sub, *_ in entries]
    cons = np.array([paths.index(p) for p in CONSUMABLES], np.int64)
    cons = cons[cat.sub_size[cons] > 0]
    staple = np.full(n_shoppers, -1, np.int64)
    if len(cons):
        staple = _popular_in(rng, cat, cons[rng.integers(0, len(cons), n_shoppers)])

    # Sessions: who (inverting activity ~ 1 / (rank + q)), where, how many views, what
    # intent, when.
    who = np.minimum((q * (((n_shoppers + q) / q) ** rng.random(n_sess) - 1.0)).astype(np.int64),
                     n_shoppers - 1)
    sub = np.where(rng.random(n_sess) < IN_FAVOURITE, favourite[who],
                   _pick(rng, cat.sub_mass, n_sess))
    anchor_pos = cat.style_pos[_popular_in(rng, cat, sub)]
    n_views = np.minimum(rng.geometric(1.0 / MEAN_VIEWS, n_sess), MAX_VIEWS).astype(np.int64)
    intent = rng.random(n_sess)
    buys, abandons = intent < BUY, (intent >= BUY) & (intent < BUY + ABANDON)
    day = rng.integers(0, days, n_sess)
    hour = rng.choice(24, size=n_sess, p=_HOURS / _HOURS.sum())
    t0 = start + day * 86_400.0 + hour * 3_600.0 + rng.random(n_sess) * 3_600.0

    # Views (each maybe after a click): the anchor first, then near it in style, else by
    # popularity in the sub-category, else anywhere. ``seq`` orders a session's events.
    v_sess = np.repeat(np.arange(n_sess, dtype=np.int64), n_views)
    v_j = _within(n_views)
    nv = len(v_sess)
    vs = sub[v_sess]
    step = rng.geometric(STYLE_STEP, nv) * rng.choice(np.array([-1, 1]), nv)
    step[v_j == 0] = 0
    lo = cat.sub_start[vs]
    v_item = cat.by_style[lo + (anchor_pos[v_sess] - lo + step) % cat.sub_size[vs]]
    u = rng.random(nv)
    far = (v_j > 0) & (u >= NEAR_ANCHOR)
    in_sub = far & (u < NEAR_ANCHOR + IN_SUB)
    v_item[in_sub] = _popular_in(rng, cat, vs[in_sub])
    anywhere = far & ~in_sub
    v_item[anywhere] = cat.by_rank[zipf_ranks(rng.random(int(anywhere.sum())), n, ZIPF_ITEMS)]
    clicked = rng.random(nv) < CLICK_SHARE
    parts = [
        (v_sess, 2 * v_j + 1, np.full(nv, VIEW), v_item),
        (v_sess[clicked], 2 * v_j[clicked], np.full(int(clicked.sum()), CLICK),
         v_item[clicked]),
    ]
    last_view = v_item[np.cumsum(n_views) - 1]
    base = 2 * n_views

    # Abandoned carts: the last viewed item.
    ab = np.flatnonzero(abandons)
    parts.append((ab, base[ab], np.full(len(ab), CART), last_view[ab]))

    # Purchases, one event: the last viewed item, each of its partners with PARTNER_TAKE
    # (viewed, then carted), a known shopper's staple with STAPLE_TAKE.
    by = np.flatnonzero(buys)
    parts.append((by, base[by], np.full(len(by), CART), last_view[by]))
    lines_s, lines_i = [by], [last_view[by]]
    for p in range(2):
        take = by[rng.random(len(by)) < PARTNER_TAKE]
        item = cat.partners[last_view[take], p]
        parts.append((take, base[take] + 1 + 2 * p, np.full(len(take), VIEW), item))
        parts.append((take, base[take] + 2 + 2 * p, np.full(len(take), CART), item))
        lines_s.append(take)
        lines_i.append(item)
    rebuy = by[(rng.random(len(by)) < STAPLE_TAKE) & known[who[by]] & (staple[who[by]] >= 0)]
    parts.append((rebuy, base[rebuy] + 5, np.full(len(rebuy), CART), staple[who[rebuy]]))
    lines_s.append(rebuy)
    lines_i.append(staple[who[rebuy]])
    ls, li = np.concatenate(lines_s), np.concatenate(lines_i)
    keep = np.unique(ls * n + li, return_index=True)[1]  # a basket lists an item once
    parts.append((ls[keep], base[ls[keep]] + 6, np.full(len(keep), PURCHASE), li[keep]))

    r_sess = np.concatenate([p[0] for p in parts])
    r_seq = np.concatenate([p[1] for p in parts])
    r_kind = np.concatenate([p[2] for p in parts]).astype(np.int64)
    r_item = np.concatenate([p[3] for p in parts]).astype(np.int64)
    del parts

    # Order by (session, seq, item): each part is sorted already, so the stable sort
    # merges a few runs. One event per (session, seq); cut to exactly n_events.
    order = np.argsort((r_sess * 64 + r_seq) * n + r_item, kind="stable")
    r_sess, r_seq, r_kind, r_item = (a[order] for a in (r_sess, r_seq, r_kind, r_item))
    new_event = np.r_[True, (r_sess[1:] != r_sess[:-1]) | (r_seq[1:] != r_seq[:-1])]
    cut = np.cumsum(new_event) <= n_events
    r_sess, r_kind, r_item, new_event = (a[cut] for a in (r_sess, r_kind, r_item, new_event))
    if int(new_event.sum()) < n_events:
        raise RuntimeError("drew too few sessions for the event budget")  # pragma: no cover
    r_qty = np.ones(len(r_item))
    bought = r_kind == PURCHASE
    qu = rng.random(int(bought.sum()))
    r_qty[bought] = np.where(qu < 0.85, 1.0, np.where(qu < 0.95, 2.0, 3.0))

    # Times: the session's start plus lognormal gaps (median 25 s, 1 s to 15 min), the
    # session moved earlier if it would run past the end of the period.
    ev_start = np.flatnonzero(new_event)
    ev_sess = r_sess[ev_start]
    gaps = np.clip(rng.lognormal(math.log(25.0), 0.8, len(ev_sess)), 1.0, 900.0)
    per_sess = np.bincount(ev_sess, minlength=n_sess).astype(np.int64)
    held = per_sess > 0
    first = (np.cumsum(per_sess) - per_sess)[held]
    csum = np.cumsum(gaps)
    offset = csum - np.repeat(csum[first] - gaps[first], per_sess[held])
    last_off = np.zeros(n_sess)
    last_off[held] = offset[first + per_sess[held] - 1]
    shift = np.maximum(0.0, t0 + last_off - (start + days * 86_400.0 - 1.0))
    ev_time = np.round(t0[ev_sess] + offset - shift[ev_sess], 3)

    # Events in time order, each event's rows kept together. (Ties, two events in one
    # millisecond, are in an order fixed by the sort: determinism needs no more.)
    by_time = np.argsort(ev_time)
    lens = np.diff(np.r_[ev_start, len(r_sess)])[by_time]
    order = np.repeat(ev_start[by_time], lens) + _within(lens)
    event = np.repeat(np.arange(len(by_time), dtype=np.int64), lens)
    # A known user is one shopper across sessions; an anonymous session is a shopper of
    # its own. Sessions are 0..S-1 (only the last can be cut); shoppers numbered densely.
    n_kept = int(ev_sess[-1]) + 1 if len(ev_sess) else 0
    raw = np.where(known[who[:n_kept]], who[:n_kept], n_shoppers + np.arange(n_kept))
    codes, sess_shopper = np.unique(raw, return_inverse=True)
    r_sess = r_sess[order]
    rows = Interactions(event=event, kind=r_kind[order], item=r_item[order],
                        quantity=r_qty[order], time=ev_time[by_time][event],
                        shopper=sess_shopper.reshape(-1).astype(np.int64)[r_sess],
                        session=r_sess)
    return rows, np.where(codes < n_shoppers, codes, -1).astype(np.int64)


def kind_shares(rows: Interactions) -> dict[str, float]:
    """The share of events of each kind (a purchase counts once, whatever its lines)."""
    first = np.r_[True, rows.event[1:] != rows.event[:-1]]
    counts = np.bincount(rows.kind[first], minlength=4).astype(np.float64)
    names: Sequence[str] = ("view", "click", "add_to_cart", "purchase")
    total = counts.sum() or 1.0
    return {k: float(c / total) for k, c in zip(names, counts, strict=True)}
