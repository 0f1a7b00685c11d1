"""Fit a tenant's :class:`~endcap.train.model.Model` from its catalog and event log.

What each table is (the formulas are in the functions that compute them):

- bestsellers: time-decayed sum of event weights, a purchase line counting
  1 + ln(quantity) (:func:`~endcap.train.popularity.bestseller_scores`);
- trending: distinct shoppers of the last week against the four weeks before, both
  smoothed towards a prior (:func:`~endcap.train.popularity.trending_scores`);
- alternatives: shrunk co-view cosine (sessions; else the same shopper's purchases),
  blended with text cosine by evidence: w = m / (m + blend_shrink) on behaviour;
- complements: shrunk co-purchase cosine (same session, hence same order), pairs seen in
  fewer than ``min_cobought`` baskets dropped, substitutes (by text or by co-views
  without co-purchases) dropped;
- related: shrunk cosine over shoppers' histories weighted by their strongest event.

Everything is vectorised over the events; similarities are computed block by block of
rows, each block cut to its top K, so no items × items matrix ever exists.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from endcap.catalog.model import Item
from endcap.events.model import Event
from endcap.semantic.artifact import ItemEmbeddings
from endcap.train.blend import DEFAULT_SHRINK, BlendChoice, blend, choose_shrink, content_table
from endcap.train.interactions import CLICK, PURCHASE, Interactions, collect, incidence
from endcap.train.linear import ease, sequences, transitions
from endcap.train.model import FloatArray, IntArray, Model, Neighbours, new_version
from endcap.train.popularity import (
    bestseller_scores,
    category_orders,
    order_by,
    trending_scores,
)
from endcap.train.similarity import (
    Cooccurrence,
    canonical,
    scale_rows,
    text_vectors,
    top_k,
    top_k_dense,
)
from endcap.train.tune import ForYouParams, binary, for_you_table, head_items, tune

#: Rows per block of a similarity product are chosen so a block has about this many
#: cells; it bounds the memory of one block (dense or not) to a few tens of MB.
BLOCK_CELLS = 1 << 22
MIN_BLOCK_ROWS = 256

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TrainParams:
    """Knobs of :func:`fit_model`. Event-kind weights are (view, click, add_to_cart,
    purchase)."""

    #: Bestsellers' time decay. A month: long enough that the list is steady and covers
    #: a small shop's catalog, short enough to follow the season; what rose this week
    #: is ``trending``'s job.
    half_life_days: float = 30.0
    #: Bestseller weight of one event of each kind (a purchase line is further
    #: multiplied by 1 + ln(quantity)). Views and clicks count a little, so that a new
    #: shop or a new item is not invisible, but a sale is worth 30 views.
    bestseller_weights: tuple[float, float, float, float] = (0.03, 0.1, 0.3, 1.0)
    #: Trending compares the last ``trending_recent_days`` with the
    #: ``trending_baseline_days`` before them.
    trending_recent_days: float = 7.0
    trending_baseline_days: float = 28.0
    #: Pseudo-shoppers added to both windows (per recent window), so tiny counts
    #: don't spike; must be > 0.
    trending_prior: float = 5.0
    #: Fewest distinct recent shoppers an item needs to be listed as trending.
    trending_min_recent: int = 5
    #: Idle time that ends a browsing session.
    session_gap_minutes: float = 30.0
    #: A basket, session or history keeps only its latest this many items (bounds the
    #: cost of wholesalers and bots, which would add max² pairs each).
    max_items_per_basket: int = 200
    #: Neighbours kept per item for alternatives, complements and related.
    neighbours: int = 50
    #: Shrinkage of co-view and co-purchase cosines (in baskets).
    cooccurrence_shrink: float = 5.0
    #: Weight of each event kind in a shopper's affinity to an item (the largest
    #: applies), for ``related``.
    affinity_weights: tuple[float, float, float, float] = (0.25, 0.4, 0.7, 1.0)
    #: Shrinkage of the ``related`` cosine (in squared affinity weights).
    affinity_shrink: float = 2.0
    #: Alternatives: w = m / (m + blend_shrink) on behaviour, 1 - w on text, where m is
    #: the number of sessions in which the item was seen with another item.
    blend_shrink: float = 10.0
    #: Weights of the text blocks: name words, other words, exact attribute tokens.
    name_weight: float = 1.0
    words_weight: float = 0.5
    attribute_weight: float = 0.5
    #: Terms in more than this share of a large catalog are dropped.
    text_max_df: float = 0.1
    #: Complements need at least this many baskets holding both items: one shared
    #: basket is chance, not "frequently bought together".
    min_cobought: int = 2
    #: Complements: j is a substitute of i, not a complement, when their text cosine
    #: exceeds this...
    substitute_text_threshold: float = 0.5
    #: ...or when j is among i's top ``substitute_coview_k`` co-viewed items and is
    #: bought with i less than ``substitute_ratio`` times as often as it is viewed with
    #: it (both as cosines): viewed side by side, then one is chosen.
    substitute_coview_k: int = 5
    substitute_ratio: float = 0.5
    #: Threads for the neighbour blocks (``None``: one per CPU).
    threads: int | None = None
    #: ``for_you``'s model: "linear" (EASE on the head of the catalog plus sequence
    #: transitions, :mod:`endcap.train.linear`) or "cosine" (the ``related`` cosine
    #: over shoppers' histories alone).
    for_you_model: str = "linear"
    #: EASE is fitted on at most this many items (those with most shoppers): its
    #: memory is this squared (15,000: 0.9 GB), whatever the catalog size. Items
    #: outside the head keep their cosine neighbours.
    linear_max_items: int = 15_000
    #: Neighbours kept per item for ``for_you``.
    for_you_neighbours: int = 50
    #: Choose ``for_you``'s λ, α and decay on a validation split of the log (else the
    #: defaults of :class:`~endcap.train.tune.ForYouParams`)...
    tune: bool = True
    #: ...unless they are given here (a gated run's refit reuses its candidate's).
    for_you_params: ForYouParams | None = None


def fit_model(items: Sequence[Item], events: Iterable[Event], *,
              params: TrainParams | None = None, version: str | None = None,
              now: float | None = None,
              progress: Callable[[str], None] | None = None,
              embeddings: ItemEmbeddings | None = None) -> Model:
    """Train every table the strategies serve from.

    The model covers every item of ``items`` in the given order (so text-based
    alternatives exist for items nobody has touched); events for other items are
    ignored, and with ``now`` so are events after it. Popularity and trending are
    computed as of ``now``, else of the newest event (else of the wall clock).
    Raises ``ValueError`` on duplicate item ids.
    """
    p = params or TrainParams()
    started = time.time()
    clock = time.perf_counter()
    item_ids = [it.id for it in items]
    index = {iid: i for i, iid in enumerate(item_ids)}
    if len(index) != len(item_ids):
        dup = next(iid for iid, count in Counter(item_ids).items() if count > 1)
        raise ValueError(f"item ids must be unique; {dup!r} appears more than once")
    rows = collect(events, index, default_time=now if now is not None else started,
                   session_gap=p.session_gap_minutes * 60.0)
    if now is not None:
        rows = rows.select(rows.time <= now)
    return fit_interactions(items, rows, params=p, version=version, now=now,
                            started=started, progress=progress, embeddings=embeddings,
                            timings={"collect": round(time.perf_counter() - clock, 4)})


def fit_interactions(items: Sequence[Item], rows: Interactions, *,
                     params: TrainParams | None = None, version: str | None = None,
                     now: float | None = None, started: float | None = None,
                     timings: dict[str, float] | None = None,
                     progress: Callable[[str], None] | None = None,
                     embeddings: ItemEmbeddings | None = None) -> Model:
    """:func:`fit_model` from interactions already collected (``rows.item`` indexes
    ``items``). With ``embeddings``, alternatives blend in the items nearest by meaning
    (:mod:`endcap.train.blend`)."""
    p = params or TrainParams()
    started = time.time() if started is None else started
    clock = time.perf_counter()
    timings = {} if timings is None else timings

    def lap(name: str) -> None:
        nonlocal clock
        t = time.perf_counter()
        timings[name] = round(t - clock, 4)
        clock = t

    item_ids = [it.id for it in items]
    n = len(item_ids)
    reference = now if now is not None else (
        float(rows.time.max()) if len(rows) else started)

    best = bestseller_scores(rows, n, kind_weights=p.bestseller_weights,
                             half_life_days=p.half_life_days, reference_time=reference)
    cats = category_orders(items, best)
    trending, trending_order = trending_scores(
        rows, n, reference_time=reference, recent_days=p.trending_recent_days,
        baseline_days=p.trending_baseline_days, prior=p.trending_prior,
        min_recent=p.trending_min_recent)
    lap("popularity")

    alternatives, complements, related = _neighbours(items, rows, p, lap)
    alternatives_text = None
    blend_stats: dict[str, object] = {}
    if embeddings is not None:
        content = content_table(embeddings, item_ids, p.neighbours)
        choice = choose_shrink(
            items, rows, content, lambda r: _neighbours(items, r, p, lambda _: None)[0],
            p.neighbours) if p.tune and len(rows) else BlendChoice(DEFAULT_SHRINK, {}, 0)
        counts = np.bincount(rows.item, minlength=n).astype(np.int64)
        alternatives, alternatives_text = blend(alternatives, content, counts, choice.shrink,
                                                p.neighbours)
        blend_stats = {"shrink": choice.shrink, "trials": choice.trials,
                       "validation_pairs": choice.pairs, "embeddings": embeddings.version}
        lap("content")
    for_you = p.for_you_params or ForYouParams()
    tuning: list[dict[str, object]] = []
    if p.for_you_model == "linear" and len(rows):
        if p.tune and p.for_you_params is None:
            for_you, trials = tune(rows, n, k=p.for_you_neighbours,
                                   max_items=p.linear_max_items, progress=progress)
            tuning = [t.as_dict() for t in trials]
            lap("tune")
        related = _linear_table(rows, n, p, for_you, related)
        lap("linear")

    stats = {
        "items": n,
        "events": len(np.unique(rows.event)),
        "interactions": len(rows),
        "shoppers": len(np.unique(rows.shopper)),
        "sessions": len(np.unique(rows.session)),
        "purchases": len(np.unique(rows.event[rows.kind == PURCHASE])),
        "timings": timings,
        "for_you": {"model": p.for_you_model, **asdict(for_you)},
        "tuning": tuning,
        "alternatives": blend_stats,
    }
    timings["total"] = round(time.time() - started, 4)
    return Model(
        version=version or new_version(started),
        trained_at=started,
        reference_time=reference,
        item_ids=item_ids,
        bestsellers=best.astype(np.float32),
        bestseller_order=order_by(best),
        trending=trending,
        trending_order=trending_order,
        category_order=cats,
        alternatives=alternatives,
        alternatives_text=alternatives_text,
        complements=complements,
        related=related,
        for_you_decay=for_you.decay,
        stats=stats,
    )


def _linear_table(rows: Interactions, n: int, p: TrainParams, fp: ForYouParams,
                  fallback: Neighbours) -> Neighbours:
    """``for_you``'s table: EASE on the head plus transitions; ``fallback`` (the
    cosine ``related``) for items outside the head."""
    n_shoppers = int(rows.shopper.max()) + 1
    x = binary(rows.shopper, rows.item, n_shoppers, n)
    head = head_items(x, p.linear_max_items)
    b = ease(x, fp.lam, head)
    del x
    seq_s, seq_i = sequences(rows.shopper, rows.item, rows.time)
    trans = transitions(seq_s, seq_i, n)
    return for_you_table(b, head, trans, fp.alpha, p.for_you_neighbours, fallback)


def _neighbours(items: Sequence[Item], rows: Interactions, p: TrainParams,
                lap: Callable[[str], None]) -> tuple[Neighbours, Neighbours, Neighbours]:
    """Alternatives, complements and related, one block of seed items at a time."""
    n, k = len(items), p.neighbours
    text = text_vectors(items, name_weight=p.name_weight, words_weight=p.words_weight,
                        attribute_weight=p.attribute_weight, max_df_fraction=p.text_max_df)
    text_t = canonical(text.T)
    lap("text")

    def baskets(keep: np.ndarray, by: np.ndarray, values: np.ndarray | None = None,
                shrink: float = p.cooccurrence_shrink) -> Cooccurrence:
        vals = np.ones(int(keep.sum())) if values is None else values[keep]
        x = incidence(by[keep], rows.item[keep], vals, n,
                      max_per_row=p.max_items_per_basket, time=rows.time[keep])
        return Cooccurrence(x, shrink)

    looked = rows.kind <= CLICK
    bought = rows.kind == PURCHASE
    coview = baskets(looked, rows.session)
    # Substitutes show in what is looked at side by side; a shop that sends no views
    # still shows them, more faintly, in what the same shoppers buy.
    behaviour = coview if not coview.empty else baskets(bought, rows.shopper)
    cobuy = baskets(bought, rows.session)
    affinity = baskets(np.ones(len(rows), bool), rows.shopper,
                       np.asarray(p.affinity_weights, np.float64)[rows.kind],
                       p.affinity_shrink)
    w_behaviour = behaviour.support / (behaviour.support + p.blend_shrink)
    lap("cooccurrence")

    out = {name: Neighbours.empty(n, k) for name in ("alternatives", "complements", "related")}

    def block(a: int, b: int) -> None:
        sim = sp.csr_matrix(text[a:b] @ text_t)
        seen = behaviour.rows(a, b)
        pairs = cobuy.rows(a, b, p.min_cobought)
        pr, pc = _row_ids(pairs), pairs.indices.astype(np.int64)
        w = w_behaviour[a:b]
        if sim.nnz > (b - a) * n // 8 and (b - a) * n <= 4 * BLOCK_CELLS:
            # Text blocks of large catalogs can be mostly non-zero: go dense.
            dense = sim.toarray()
            pair_text = dense[pr, pc]
            alt = dense * (1.0 - w)[:, None]
            r = _row_ids(seen)
            alt[r, seen.indices] += w[r] * seen.data
            _store(out["alternatives"], a, top_k_dense(alt, k, a))
        else:
            pair_text = np.asarray(sim[pr, pc]).ravel() if len(pr) else np.zeros(0)
            alt = scale_rows(seen, w) + scale_rows(sim, 1.0 - w)
            _store(out["alternatives"], a, top_k(alt, k, a))

        substitute = pair_text > p.substitute_text_threshold
        if not coview.empty and p.substitute_coview_k > 0:
            top_seen = top_k(coview.rows(a, b), p.substitute_coview_k, a)
            substitute |= _coview_substitutes(pr, pc, pairs.data, top_seen, n,
                                              p.substitute_ratio)
        pairs.data[substitute] = 0.0
        _store(out["complements"], a, top_k(pairs, k, a))
        _store(out["related"], a, top_k(affinity.rows(a, b), k, a))

    # Rows per block: a dense block stays near BLOCK_CELLS cells, but never fewer than
    # MIN_BLOCK_ROWS rows: each sparse product allocates a workspace as wide as the
    # catalog, so tiny blocks of a huge catalog would cost items² in all.
    step = max(MIN_BLOCK_ROWS, BLOCK_CELLS // max(n, 1))
    starts = range(0, n, step)
    # Blocks write disjoint rows, and numpy/scipy release the GIL in their kernels.
    with ThreadPoolExecutor(max(1, min(p.threads or os.cpu_count() or 1, len(starts)))) as pool:
        list(pool.map(lambda a: block(a, min(n, a + step)), starts))
    lap("neighbours")
    return out["alternatives"], out["complements"], out["related"]


def _row_ids(m: sp.csr_matrix) -> I64:
    """The row of each stored entry of ``m``."""
    return np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))


def _coview_substitutes(pr: I64, pc: I64, bought: F64, top_seen: tuple[IntArray, FloatArray],
                        n: int, ratio: float) -> npt.NDArray[np.bool_]:
    """Which pairs (pr, pc) of the block, co-bought at cosine ``bought``, are among the
    row item's top co-viewed items yet bought together less than ``ratio`` times as
    much as they are viewed together."""
    idx, score = top_seen
    vr, vk = np.nonzero(idx >= 0)
    if len(vr) == 0:
        return np.zeros(len(pr), bool)
    keys = vr.astype(np.int64) * n + idx[vr, vk]
    order = np.argsort(keys)
    keys, viewed = keys[order], score[vr, vk][order].astype(np.float64)
    pair_keys = pr * n + pc
    at = np.minimum(np.searchsorted(keys, pair_keys), len(keys) - 1)
    found: npt.NDArray[np.bool_] = keys[at] == pair_keys
    return found & (bought < ratio * viewed[at])


def _store(nb: Neighbours, a: int, top: tuple[IntArray, FloatArray]) -> None:
    idx, score = top
    nb.idx[a:a + len(idx)] = idx
    nb.score[a:a + len(idx)] = score

