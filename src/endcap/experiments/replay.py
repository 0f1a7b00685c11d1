"""Off-policy replay: how would another pod configuration have done on logged traffic?

Screens a variant (a strategy chain, optionally other filters) before it gets any
traffic, from the event log alone.

Data, as in :mod:`endcap.experiments.report`:

* A **logged impression** is an ``impression`` event of the pod with a ``result_id``
  (counted once per ``result_id``) and a shopper (user id, else session id), inside
  ``[since, until]``; its items, in order, are the logged ranking (position 0 first).
* A ``click`` or ``purchase`` is credited **click-through** to the impression whose
  ``result_id`` it carries (only its items that the impression showed), else
  **view-through** to the shopper's latest impression that showed the item within the
  attribution window before it. An ``event_id`` credits once. A click is binary per
  (impression, item); a purchase's revenue is its credited lines' price × quantity
  (the event's ``revenue`` for a one-line order without a price).

Estimator: a **position-based click model** (PBM) for deterministic rankers.

* Assumption 1 (PBM): the shopper examines position ``k`` (0-based) with probability
  ``θ_k = 1 / (k + 1) ** η``, independently of the item, and clicks (or buys) an
  examined item with a probability that depends only on the (shopper, item) pair, not
  on the ranker, the position or the other items. ``η`` is *stated*, not estimated (the
  default 1 is the usual DCG-like discount): estimating θ from a deterministic logger
  would need randomised or interleaved traffic, which this log does not have.
* The relevance of item ``i`` for shopper ``s`` is estimated as its de-biased
  outcomes: ``r(s, i) = Σ outcomes(s, i) / Σ θ_pos`` over all of ``s``'s logged
  impressions that showed ``i`` at position ``pos`` (clicks for the click estimate,
  attributed revenue for the revenue estimate). Evidence is pooled over the shopper's
  impressions in the window, whatever their time.
* A ranking ``L`` of an impression of ``s`` is worth ``Σ_k θ_k r(s, L[k])``. For the
  logged rankings this sums, over all impressions, to exactly the observed clicks and
  revenue (the sanity check in the report: ``logged`` must equal ``observed``).
* Assumption 2 (support): an item the candidate shows that was never logged for that
  shopper is worth **zero** — nothing is known about it. The candidate estimate is
  therefore a **lower bound**, pessimistic for candidates that differ a lot from the
  logged ranker; ``overlap`` (the share of candidate slots holding an item logged for
  that shopper) says how much of the candidate is actually judged. Below ~50% the
  estimate says little about the candidate.
* Intervals: a seeded percentile bootstrap over impressions (95%), holding the relevance
  estimates fixed, so they reflect which impressions were sampled, not the noise in
  ``r``; the difference candidate − logged is bootstrapped paired.

The candidate's list for an impression is computed by the pod engine with the
tenant's **current** model (not the one serving at the time: the replay compares a
variant with how the logged ranker did, not with what today's model would have done)
and the shopper's history rebuilt from the log's ``view``/``click``/``add_to_cart``/
``purchase`` events strictly before the impression, over today's catalog (deleted items
drop out). Request seeds (``item_id=``) and request filters are not logged, so seed
strategies (``alternative_items``, ``complementary_items``) get no seeds and
``semantic_search`` no query; the candidate is cut to the logged list's length.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec
import numpy as np

from endcap.events.model import Event
from endcap.experiments.assign import shopper_key
from endcap.experiments.report import _finite, _revenue
from endcap.pods.engine import recommend
from endcap.pods.model import Filters, Pod, StrategyName
from endcap.store.protocol import ItemReader
from endcap.strategies.base import Context
from endcap.strategies.registry import STRATEGIES
from endcap.stream.history import ShopperHistory
from endcap.train.model import Model

BOOTSTRAP = 1_000
SEED_STRATEGIES = frozenset({"alternative_items", "complementary_items", "semantic_search"})


class ReplayError(ValueError):
    """Nothing to replay, or a bad request (unknown pod or strategy, no impressions)."""


@dataclass(slots=True)
class Logged:
    """One logged impression and the outcomes credited to it."""

    result_id: str
    shopper: str
    #: The history keys of the shopper ("u:..", "s:..").
    keys: list[str]
    time: float
    items: list[str]
    clicked: set[str] = field(default_factory=set)
    revenue: dict[str, float] = field(default_factory=dict)


def theta(k: int, eta: float) -> float:
    """The examination probability of position ``k`` (0-based)."""
    return float(1.0 / (k + 1) ** eta)


def collect(events: Iterable[Event], pod_id: str, *, since: float = 0.0,
            until: float = math.inf, window_hours: float = 24.0) -> list[Logged]:
    """The pod's logged impressions in ``[since, until]`` with their credited clicks and
    revenue (outcomes up to ``until`` + the window), oldest first."""
    window = window_hours * 3600.0
    timed = sorted(((float(e.timestamp), 0 if e.type == "impression" else 1, k, e)
                    for k, e in enumerate(events) if isinstance(e.timestamp, float | int)),
                   key=lambda x: x[:3])
    by_result: dict[str, Logged] = {}
    by_shopper: dict[str, list[Logged]] = {}
    seen: set[str] = set()
    out: list[Logged] = []
    for t, _, _, e in timed:
        if e.event_id in seen:
            continue
        seen.add(e.event_id)
        key = shopper_key(e.user_id, e.session_id)
        if key is None:
            continue
        if e.type == "impression":
            if (e.pod_id != pod_id or not e.result_id or e.result_id in by_result
                    or not since <= t <= until):
                continue
            imp = Logged(e.result_id, key, e.shopper_keys(), t, e.item_ids())
            by_result[e.result_id] = imp
            by_shopper.setdefault(key, []).append(imp)
            out.append(imp)
            continue
        if e.type not in ("click", "purchase") or key not in by_shopper:
            continue
        credits: list[tuple[Logged, str]] = []
        through = by_result.get(e.result_id) if e.result_id else None
        if through is not None and through.shopper == key:
            credits = [(through, i) for i in e.item_ids() if i in through.items]
        else:
            for i in e.item_ids():
                recent = [imp for imp in by_shopper[key]
                          if imp.time <= t and t - imp.time <= window and i in imp.items]
                if recent:
                    credits.append((recent[-1], i))
        if e.type == "click":
            for imp, i in credits:
                imp.clicked.add(i)
        else:
            for imp, i in credits:
                imp.revenue[i] = imp.revenue.get(i, 0.0) + _revenue(e, {i})
    return out


@dataclass(slots=True)
class Estimate:
    clicks_per_impression: float
    clicks_low: float
    clicks_high: float
    revenue_per_impression: float
    revenue_low: float
    revenue_high: float
    #: Share of the ranking's slots whose item was logged for the shopper.
    overlap: float


@dataclass(slots=True)
class ReplayReport:
    tenant: str
    pod_id: str
    logged_strategy: list[str]
    candidate_strategy: list[str]
    impressions: int
    shoppers: int
    eta: float
    attribution_window_hours: float
    observed_clicks_per_impression: float
    observed_revenue_per_impression: float
    logged: Estimate
    candidate: Estimate
    #: Candidate − logged, paired bootstrap 95% intervals.
    clicks_diff_low: float
    clicks_diff_high: float
    revenue_diff_low: float
    revenue_diff_high: float
    method: str = ("position-based click model, theta_k = 1/(k+1)^eta stated; relevance "
                   "= outcomes / examinations per (shopper, item); unlogged items count "
                   "zero (a lower bound); 95% percentile bootstrap over impressions")
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _finite(asdict(self))
        return out


def estimate(logged: Sequence[Logged], candidates: Sequence[Sequence[str]], *,
             eta: float = 1.0, seed: int = 0, bootstrap: int = BOOTSTRAP
             ) -> tuple[Estimate, Estimate, dict[str, float]]:
    """The PBM estimates of the logged rankings and of ``candidates`` (one list per
    logged impression), and the observed per-impression clicks and revenue and
    the paired bootstrap intervals of the differences."""
    if not logged:
        raise ReplayError("no logged impressions to replay")
    if len(candidates) != len(logged):
        raise ValueError("one candidate list per logged impression")
    exam: dict[tuple[str, str], float] = {}
    clicks: dict[tuple[str, str], float] = {}
    money: dict[tuple[str, str], float] = {}
    for imp in logged:
        for k, i in enumerate(imp.items):
            si = (imp.shopper, i)
            exam[si] = exam.get(si, 0.0) + theta(k, eta)
            clicks[si] = clicks.get(si, 0.0) + (i in imp.clicked)
            money[si] = money.get(si, 0.0) + imp.revenue.get(i, 0.0)

    def value(imp: Logged, ranking: Sequence[str]) -> tuple[float, float, float]:
        c = r = 0.0
        hit = 0
        for k, i in enumerate(ranking):
            si = (imp.shopper, i)
            if si not in exam:
                continue
            hit += 1
            w = theta(k, eta) / exam[si]
            c += w * clicks[si]
            r += w * money[si]
        return c, r, hit

    log_v = np.array([value(imp, imp.items) for imp in logged], np.float64)
    cand_v = np.array([value(imp, cand) for imp, cand in zip(logged, candidates, strict=True)],
                      np.float64)
    n = len(logged)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(bootstrap, n))

    def interval(x: np.ndarray) -> tuple[float, float]:
        means = x[idx].mean(axis=1)
        lo, hi = np.percentile(means, [2.5, 97.5])
        return float(lo), float(hi)

    def summary(v: np.ndarray, slots: int) -> Estimate:
        cl, ch = interval(v[:, 0])
        rl, rh = interval(v[:, 1])
        return Estimate(float(v[:, 0].mean()), cl, ch, float(v[:, 1].mean()), rl, rh,
                        float(v[:, 2].sum() / slots) if slots else math.nan)

    log_est = summary(log_v, sum(len(imp.items) for imp in logged))
    cand_est = summary(cand_v, sum(len(c) for c in candidates))
    cdl, cdh = interval(cand_v[:, 0] - log_v[:, 0])
    rdl, rdh = interval(cand_v[:, 1] - log_v[:, 1])
    extra = {
        "observed_clicks": sum(len(imp.clicked) for imp in logged) / n,
        "observed_revenue": sum(sum(imp.revenue.values()) for imp in logged) / n,
        "clicks_diff_low": cdl, "clicks_diff_high": cdh,
        "revenue_diff_low": rdl, "revenue_diff_high": rdh,
    }
    return log_est, cand_est, extra


def candidate_pod(pod: Pod, strategy: Sequence[str], filters: Filters | None = None) -> Pod:
    """``pod`` with another strategy chain (and filters), as a variant would set it."""
    unknown = [s for s in strategy if s not in STRATEGIES]
    if not strategy or unknown:
        raise ReplayError(f"unknown strategy {unknown[0]!r}" if unknown else
                          "no strategy given")
    chain: list[StrategyName] = list(strategy)  # type: ignore[arg-type]
    return msgspec.structs.replace(
        pod, strategy=chain[0] if len(chain) == 1 else chain,
        filters=pod.filters if filters is None else filters)


async def candidate_lists(catalog: ItemReader, tenant: str, pod: Pod, model: Model | None,
                          events: Iterable[Event], logged: Sequence[Logged]
                          ) -> list[list[str]]:
    """``pod``'s list for each logged impression, from the shopper's history before it."""
    when = {imp.result_id: imp for imp in logged}
    timed = sorted(((float(e.timestamp), 0 if e.type == "impression" else 1, k, e)
                    for k, e in enumerate(events) if isinstance(e.timestamp, float | int)),
                   key=lambda x: x[:3])
    histories: dict[str, ShopperHistory] = {}
    seen: set[str] = set()
    lists: dict[str, list[str]] = {}
    for t, _, _, e in timed:
        if e.event_id in seen:
            continue
        seen.add(e.event_id)
        imp = when.get(e.result_id or "") if e.type == "impression" else None
        if imp is not None and imp.result_id not in lists and e.pod_id == pod.id:
            parts = [histories[k] for k in imp.keys if k in histories]
            merged = ShopperHistory.merged(parts) if parts else ShopperHistory()
            history = ShopperHistory(list(merged.events), dict(merged.purchased))
            ctx = Context(model=model, history=history, filters=pod.filters, now=t,
                          exclude_bought=not pod.allow_repurchase)
            results = await recommend(catalog, tenant, pod, ctx, len(imp.items), set())
            lists[imp.result_id] = [r.item.id for r in results]
            continue
        for k in e.shopper_keys():
            histories.setdefault(k, ShopperHistory()).apply(e)
    return [lists.get(imp.result_id, []) for imp in logged]


async def replay(catalog: ItemReader, tenant: str, pod: Pod, strategy: Sequence[str],
                 model: Model | None, events: Sequence[Event], *,
                 filters: Filters | None = None, since: float = 0.0,
                 until: float = math.inf, window_hours: float = 24.0, eta: float = 1.0,
                 seed: int = 0, bootstrap: int = BOOTSTRAP) -> ReplayReport:
    """Estimate ``strategy`` (and ``filters``) on ``pod``'s logged impressions."""
    cand = candidate_pod(pod, strategy, filters)
    logged = collect(events, pod.id, since=since, until=until, window_hours=window_hours)
    if not logged:
        raise ReplayError(f"pod {pod.id!r} has no logged impressions with a result_id and "
                          "a shopper in the period")
    lists = await candidate_lists(catalog, tenant, cand, model, events, logged)
    log_est, cand_est, extra = estimate(logged, lists, eta=eta, seed=seed,
                                        bootstrap=bootstrap)
    notes = []
    if model is None:
        notes.append("the tenant has no model: only model-free strategies produced items")
    seeded = sorted(SEED_STRATEGIES.intersection(cand.chain()))
    if seeded:
        notes.append(f"{', '.join(seeded)} need request seeds or a query, which the log "
                     "does not keep: they produced nothing")
    if not math.isnan(cand_est.overlap) and cand_est.overlap < 0.5:
        notes.append(f"only {cand_est.overlap:.0%} of the candidate's slots were logged for "
                     "their shopper: the estimate is a loose lower bound")
    short = sum(len(c) < len(imp.items) for c, imp in zip(lists, logged, strict=True))
    if short:
        notes.append(f"the candidate filled fewer slots than logged on {short} impressions")
    return ReplayReport(
        tenant=tenant, pod_id=pod.id, logged_strategy=list(pod.chain()),
        candidate_strategy=list(cand.chain()), impressions=len(logged),
        shoppers=len({imp.shopper for imp in logged}), eta=eta,
        attribution_window_hours=window_hours,
        observed_clicks_per_impression=extra["observed_clicks"],
        observed_revenue_per_impression=extra["observed_revenue"],
        logged=log_est, candidate=cand_est,
        clicks_diff_low=extra["clicks_diff_low"], clicks_diff_high=extra["clicks_diff_high"],
        revenue_diff_low=extra["revenue_diff_low"],
        revenue_diff_high=extra["revenue_diff_high"], notes=notes)
