"""An experiment's report, computed from the event log: exposure, attribution, lifts.

Everything is derived from logged events, so a report can be recomputed at any time
and gives the same answer:

* A shopper (user id, else session id) belongs at time ``t`` to the variant that owned
  their bucket then (:func:`endcap.experiments.assign.variant_at`).
* They are **exposed** from their first ``impression`` event in the experiment's pod;
  only exposed shoppers count. Impressions count once per ``result_id``.
* A later ``click``, ``add_to_cart`` or ``purchase`` is credited to the variant
  **click-through** when it carries the ``result_id`` of one of the shopper's
  impressions in the pod, else **view-through** when it concerns an item such an
  impression showed within the attribution window before it. An ``event_id`` credits
  once. A purchase's attributed revenue is the price times quantity of its lines whose
  item was shown (the line's price, else the event's ``revenue`` for a one-line order).
* The primary metric is a per-exposed-shopper value (revenue, or whether they
  converted, carted or clicked); each variant is compared with the control by the
  relative lift of its mean (delta-method interval) and an always-valid mSPRT p-value
  (mixing scale tau = the experiment's ``mde`` times the control mean at the first
  look) taken as the running minimum over the looks: one at the end of every day since
  the start and one at the report's time, so reading the report at any time, however
  often, does not inflate false positives (:mod:`endcap.experiments.stats`).
* The decision rule, evaluated at each look in order, and final at the first look
  that reaches one: ``winner:<variant>`` when a variant is significantly better than
  the control (the best such), or the control when every variant is significantly
  worse; ``no_difference`` when the exposed shoppers reach the declared
  ``max_shoppers`` first; else ``continue``. Later looks do not change a decision.
  A sample-ratio mismatch overrides it (``sample_ratio_mismatch``): the split is broken.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from endcap.events.model import Event
from endcap.experiments.assign import bucket, shopper_key, variant_at
from endcap.experiments.model import BUCKETS, Experiment
from endcap.experiments.stats import (
    SRM_ALPHA,
    AlwaysValid,
    Summary,
    relative_lift,
    srm_p_value,
    summarise,
)

DAY = 86_400.0
#: The revenue cap is the quantile of purchase-line revenue over this many days before
#: the start, when at least MIN_CAP_LINES lines were bought then.
CAP_DAYS = 30
MIN_CAP_LINES = 50
CONTINUE, NO_DIFFERENCE, SRM, WINNER = ("continue", "no_difference", "sample_ratio_mismatch",
                                        "winner:")
METRIC_INDEX = {"revenue_per_shopper": 0, "conversion_rate": 1, "add_to_cart_rate": 2,
                "click_rate": 3}
METHOD = ("relative lift of per-shopper means with a delta-method 95% interval (revenue "
          "per shopper tested with each purchase line capped at the revenue_cap_quantile "
          "of line revenue in the 30 days before the start, when set); "
          "always-valid p-value: mixture SPRT (normal mixture, tau = mde x the control "
          "mean at the first look) over daily looks since the start and one at the "
          "report's time, running minimum; decision at the first look where p <= alpha "
          "(winner) or the exposed shoppers reach max_shoppers (no_difference); "
          f"sample-ratio mismatch: chi-square, flagged below p = {SRM_ALPHA}")


@dataclass(slots=True)
class VariantStats:
    id: str
    share: float
    holdout: bool
    shoppers: int = 0
    impressions: int = 0
    clicks: int = 0
    clicks_view_through: int = 0
    add_to_carts: int = 0
    add_to_carts_view_through: int = 0
    purchases: int = 0
    purchases_view_through: int = 0
    revenue: float = 0.0
    revenue_view_through: float = 0.0
    #: Exposed shoppers who bought (converted) or carted an attributed item.
    converted: int = 0
    carted: int = 0
    ctr: float = 0.0
    add_to_cart_rate: float = 0.0
    conversion_rate: float = 0.0
    revenue_per_shopper: float = 0.0
    revenue_per_1000_impressions: float = 0.0


@dataclass(slots=True)
class Comparison:
    variant: str
    control: str
    metric: str
    mean: float
    control_mean: float
    lift: float
    lift_low: float
    lift_high: float
    p_value: float
    significant: bool
    #: The mSPRT mixing scale, in the metric's units (None before the first look).
    tau: float | None = None


@dataclass(slots=True)
class Report:
    experiment: str
    pod_id: str
    status: str
    started_at: float | None
    stopped_at: float | None
    until: float
    metric: str
    alpha: float
    attribution_window_hours: float
    variants: list[VariantStats]
    comparisons: list[Comparison]
    srm_p_value: float
    sample_ratio_mismatch: bool
    looks: int
    #: ``continue``, ``winner:<variant>``, ``no_difference`` or ``sample_ratio_mismatch``.
    decision: str
    #: The decision in a sentence.
    decision_reason: str = ""
    #: The time of the look that decided, and the exposed shoppers then (None: undecided).
    decided_at: float | None = None
    decided_shoppers: int | None = None
    #: The declared relative minimum detectable effect and maximum sample.
    mde: float = 0.10
    max_shoppers: int | None = None
    #: The cap on each purchase line's revenue in the test (None: uncapped).
    revenue_cap: float | None = None
    method: str = METHOD
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _finite(asdict(self))
        return out


def _finite(x: Any) -> Any:
    """NaN and infinities as None (JSON has neither)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


@dataclass(slots=True)
class _Shopper:
    variant: int
    #: (time, result_id, items shown) of their impressions in the pod.
    shown: list[tuple[float, str, frozenset[str]]] = field(default_factory=list)
    #: revenue (capped per line, as tested), converted, carted, clicked
    values: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])


@dataclass(slots=True)
class _Decided:
    code: str
    at: float
    shoppers: int
    lifts: dict[str, float]


def build_report(tenant: str, exp: Experiment, events: Iterable[Event], now: float
                 ) -> Report:
    """The report of ``exp`` from the tenant's events (any order)."""
    start = exp.started_at
    until = exp.stopped_at if exp.stopped_at is not None else now
    n_var = len(exp.variants)
    stats = [VariantStats(v.id, v.share, v.holdout) for v in exp.variants]
    control = next(i for i, v in enumerate(exp.variants) if v.id == exp.control_id())
    window = exp.attribution_window_hours * 3600.0
    metric = METRIC_INDEX[exp.primary_metric]
    others = [i for i in range(n_var) if i != control and not exp.variants[i].holdout]
    trackers = {i: AlwaysValid(mde_relative=exp.mde) for i in others}
    notes: list[str] = []
    looks = 0
    decided: _Decided | None = None
    if start is None:
        return _finish(exp, stats, [], until, 0, None, ["the experiment has not started"])

    events_list = list(events)
    timed = sorted(((float(e.timestamp), k, e) for k, e in enumerate(events_list)
                    if isinstance(e.timestamp, float | int) and start <= float(e.timestamp)
                    <= until), key=lambda x: (x[0], x[1]))
    cap = revenue_cap(events_list, start, exp.revenue_cap_quantile) \
        if exp.primary_metric == "revenue_per_shopper" else None
    shoppers: dict[str, _Shopper] = {}
    seen_events: set[str] = set()
    seen_results: set[str] = set()
    mismatched = 0
    next_look = start + DAY

    def look(t: float) -> None:
        nonlocal looks, decided
        if decided is not None:  # the decision is final: later looks do not count
            return
        looks += 1
        sums = _summaries(shoppers, n_var, metric)
        for i in others:
            trackers[i].update(sums[i], sums[control])
        decided = _decide(exp, sums, trackers, control, others, t)

    for t, _, e in timed:
        while t >= next_look:
            look(next_look)
            next_look += DAY
        if e.event_id in seen_events:
            continue
        seen_events.add(e.event_id)
        key = shopper_key(e.user_id, e.session_id)
        if key is None:
            continue
        v = variant_at(exp, bucket(tenant, exp.id, key), t)
        if v < 0:
            continue
        s = stats[v]
        if e.type == "impression":
            if e.pod_id != exp.pod_id or not e.result_id or e.result_id in seen_results:
                continue
            seen_results.add(e.result_id)
            if e.variant is not None and e.variant != exp.variants[v].id:
                mismatched += 1
            who = shoppers.get(key)
            if who is None or who.variant != v:  # first exposure (or moved variant)
                who = shoppers[key] = _Shopper(v)
                s.shoppers += 1
            who.shown.append((t, e.result_id, frozenset(e.item_ids())))
            s.impressions += 1
            continue
        if e.type not in ("click", "add_to_cart", "purchase"):
            continue
        who = shoppers.get(key)
        if who is None or who.variant != v:
            continue
        items = e.item_ids()
        through = e.result_id is not None and any(r == e.result_id for _, r, _ in who.shown)
        recent = set().union(*(shown for ts, _, shown in who.shown if t - ts <= window))
        credited = [i for i in items if i in recent] if not through else [
            i for i in items if i in recent] or items
        if not through and not credited:
            continue
        if e.type == "click":
            s.clicks += 1
            s.clicks_view_through += not through
            who.values[3] = 1.0
        elif e.type == "add_to_cart":
            s.add_to_carts += 1
            s.add_to_carts_view_through += not through
            who.values[2] = 1.0
        else:
            lines = _line_revenues(e, set(credited))
            revenue = sum(lines)
            s.purchases += 1
            s.purchases_view_through += not through
            s.revenue += revenue
            s.revenue_view_through += 0.0 if through else revenue
            who.values[0] += revenue if cap is None else sum(min(x, cap) for x in lines)
            who.values[1] = 1.0
    look(until)
    for who in shoppers.values():
        stats[who.variant].converted += int(who.values[1])
        stats[who.variant].carted += int(who.values[2])
    if mismatched:
        notes.append(f"{mismatched} impressions named another variant than the shopper's "
                     "assignment (counted under the assignment)")
    comparisons = []
    sums = _summaries(shoppers, n_var, metric)
    for i in others:
        lift = relative_lift(sums[i], sums[control], alpha=exp.alpha)
        p = trackers[i].p
        comparisons.append(Comparison(
            exp.variants[i].id, exp.variants[control].id, exp.primary_metric,
            sums[i].mean, sums[control].mean, lift.lift, lift.low, lift.high, p,
            p <= exp.alpha, trackers[i].tau))
    rep = _finish(exp, stats, comparisons, until, looks, decided, notes)
    rep.revenue_cap = cap
    return rep


def _decide(exp: Experiment, sums: list[Summary], trackers: dict[int, AlwaysValid],
            control: int, others: list[int], t: float) -> _Decided | None:
    """The decision rule at one look (None: continue)."""
    n = sums[control].n + sum(sums[i].n for i in others)
    lifts = {exp.variants[i].id: sums[i].mean / sums[control].mean - 1.0
             if sums[control].mean else math.nan for i in others}
    significant = [i for i in others if trackers[i].p <= exp.alpha]
    better = [i for i in significant if sums[i].mean > sums[control].mean]
    if better:
        best = max(better, key=lambda i: sums[i].mean)
        return _Decided(WINNER + exp.variants[best].id, t, n, lifts)
    if others and len(significant) == len(others):  # every variant is worse
        return _Decided(WINNER + exp.variants[control].id, t, n, lifts)
    if exp.max_shoppers is not None and n >= exp.max_shoppers:
        return _Decided(NO_DIFFERENCE, t, n, lifts)
    return None


def revenue_cap(events: Iterable[Event], start: float, quantile: float | None
                ) -> float | None:
    """The ``quantile`` of purchase-line revenue (price times quantity) over the
    CAP_DAYS before ``start``; None without a quantile or with too few lines."""
    if quantile is None:
        return None
    lines: list[float] = []
    for e in events:
        t = e.timestamp
        if e.type == "purchase" and isinstance(t, float | int) and (
                start - CAP_DAYS * DAY <= t < start):
            lines += (x for x in _line_revenues(e, set(e.item_ids())) if x > 0)
    if len(lines) < MIN_CAP_LINES:
        return None
    return float(np.quantile(lines, quantile))


def _summaries(shoppers: dict[str, _Shopper], n_var: int, metric: int) -> list[Summary]:
    values: list[list[float]] = [[] for _ in range(n_var)]
    for who in shoppers.values():
        values[who.variant].append(who.values[metric])
    return [summarise(np.asarray(v, np.float64)) if len(v) else Summary(0, math.nan, math.nan)
            for v in values]


def _revenue(e: Event, items: set[str]) -> float:
    """The revenue of the lines of purchase ``e`` whose item is in ``items``."""
    return sum(_line_revenues(e, items))


def _line_revenues(e: Event, items: set[str]) -> list[float]:
    """The revenue of each line of purchase ``e`` whose item is in ``items``."""
    if e.items:
        lines = [(line.price or 0.0) * line.quantity for line in e.items if line.id in items]
        if sum(lines) == 0.0 and e.revenue is not None and len(e.items) == 1:
            return [float(e.revenue)]
        return [float(x) for x in lines]
    return [float(e.revenue or 0.0)]


def _finish(exp: Experiment, stats: list[VariantStats], comparisons: list[Comparison],
            until: float, looks: int, decided: _Decided | None, notes: list[str]) -> Report:
    for s in stats:
        s.ctr = s.clicks / s.impressions if s.impressions else 0.0
        s.add_to_cart_rate = s.carted / s.shoppers if s.shoppers else 0.0
        s.conversion_rate = s.converted / s.shoppers if s.shoppers else 0.0
        s.revenue_per_shopper = s.revenue / s.shoppers if s.shoppers else 0.0
        s.revenue_per_1000_impressions = (1000 * s.revenue / s.impressions
                                          if s.impressions else 0.0)
    counts = [s.shoppers for s in stats]
    alloc = exp.allocations[-1].owner if exp.allocations else []
    shares = [sum(1 for o in alloc if o == i) / BUCKETS for i in range(len(stats))]
    live = [i for i, sh in enumerate(shares) if sh > 0]
    srm = (srm_p_value([counts[i] for i in live], [shares[i] for i in live])
           if sum(counts[i] for i in live) > 0 and len(live) > 1 else 1.0)
    decision, reason = _decision(exp, decided, srm < SRM_ALPHA, sum(counts))
    return Report(
        experiment=exp.id, pod_id=exp.pod_id, status=exp.status, started_at=exp.started_at,
        stopped_at=exp.stopped_at, until=until, metric=exp.primary_metric, alpha=exp.alpha,
        attribution_window_hours=exp.attribution_window_hours, variants=stats,
        comparisons=comparisons, srm_p_value=srm, sample_ratio_mismatch=srm < SRM_ALPHA,
        looks=looks, decision=decision, decision_reason=reason,
        decided_at=None if decided is None else decided.at,
        decided_shoppers=None if decided is None else decided.shoppers,
        mde=exp.mde, max_shoppers=exp.max_shoppers, notes=notes)


def _decision(exp: Experiment, decided: _Decided | None, srm: bool, exposed: int
              ) -> tuple[str, str]:
    """The decision code and its sentence."""
    if srm:
        return SRM, "the split is broken (sample-ratio mismatch): fix the assignment first"
    horizon = f" of the declared {exp.max_shoppers:,}" if exp.max_shoppers else ""
    if decided is None:
        return CONTINUE, (f"no significant difference yet at {exposed:,} shoppers{horizon}: "
                          "keep running")
    if decided.code == NO_DIFFERENCE:
        return NO_DIFFERENCE, (f"no significant difference at {decided.shoppers:,} "
                               f"shoppers{horizon}: the horizon is reached, stop")
    winner = decided.code[len(WINNER):]
    control = exp.control_id()
    if winner != control:
        return decided.code, (f"{winner} beats {control} on {exp.primary_metric} "
                              f"({decided.lifts[winner]:+.1%}) at {decided.shoppers:,} "
                              "shoppers")
    lifts = ", ".join(f"{v} {lift:+.1%}" for v, lift in decided.lifts.items())
    return decided.code, (f"{control} beats every variant on {exp.primary_metric} "
                          f"({lifts}) at {decided.shoppers:,} shoppers")
