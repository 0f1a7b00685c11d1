"""The training gate: a new model is published only if it is not worse than the current
one on a recent time window of the event log.

- The window is the last ``window_days`` of the log, or its last 10% of events when the
  log spans fewer than four windows (:func:`split_window`).
- Test shoppers are those with events before the window who touched, in it, items they
  had not touched before; those new items are what they must be recommended
  (:func:`relevant_pairs`). Their history as of the window's start is the seed.
- Each model is scored as it is served: ``for_you`` through its vectorised twin
  (:func:`endcap.train.personal.history_weights` and :func:`endcap.train.tune.recommend`),
  and ``bestsellers`` beside it, both leaving out what the shopper already had
  (:func:`evaluate_window`). ``for_you`` alone decides; bestsellers are a reference line.
- A candidate fitted on the log before the window is accepted when its NDCG@10 is at
  least ``(1 - tolerance)`` times the current model's (:func:`judge`).

The current model was usually trained after the window began, so it has seen some of
the window it is scored on: that favours keeping it, and the report says by how much.
With ``window="unseen"`` the window is cut to what the current model has not seen
(:func:`unseen_part`): the candidate is then fitted on the data the current model was,
and the comparison is fair, but a frequent schedule leaves a short window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from endcap.quality.metrics import Metrics, evaluate
from endcap.train.interactions import Interactions
from endcap.train.model import Model, Neighbours
from endcap.train.personal import history_weights
from endcap.train.tune import binary, recommend, table_matrix

I64 = npt.NDArray[np.int64]
DAY = 86_400.0
#: A log spanning fewer windows than this is cut by share of events instead.
MIN_WINDOWS = 4
#: The share of events in the window of a short log.
SHORT_LOG_SHARE = 0.1
#: Recall is measured at this depth (NDCG, hit rate and coverage at ``k``).
RECALL_K = 20

Decision = Literal["accept", "reject", "no evidence", "first model"]


@dataclass(frozen=True, slots=True)
class GateSettings:
    """Knobs of the gate (``endcap train --window-days --tolerance``)."""

    #: Length of the recent window the models are compared on.
    window_days: float = 7.0
    #: A candidate may be this much worse (relative NDCG@10) and still be published:
    #: two fits on nearly the same log differ by noise, and refusing every update over
    #: noise would freeze the model.
    tolerance: float = 0.02
    #: List length of the metrics.
    k: int = 10
    #: "unseen" (default): only the part of the window after the current model's newest
    #: event, so that both models are scored on what neither has seen; "recent": the
    #: whole window as :func:`split_window` cuts it, part of which the current model
    #: has usually been trained on (which favours keeping it).
    window: Literal["recent", "unseen"] = "unseen"

    def __post_init__(self) -> None:
        if not (self.window_days > 0 and math.isfinite(self.window_days)):
            raise ValueError(f"window_days must be a positive number, not {self.window_days}")
        if not 0 <= self.tolerance < 1:
            raise ValueError(f"tolerance must be at least 0 and below 1, not {self.tolerance}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, not {self.k}")
        if self.window not in ("recent", "unseen"):
            raise ValueError(f"window must be 'recent' or 'unseen', not {self.window!r}")


@dataclass(frozen=True, slots=True)
class Window:
    """Rows with ``start <= time`` are in the window; ``end`` is the newest event's time."""

    start: float
    end: float
    #: How it was chosen, for people: "last 7 days", or the share rule and why.
    rule: str

    def inside(self, rows: Interactions) -> npt.NDArray[np.bool_]:
        return rows.time >= self.start

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "rule": self.rule}


def split_window(rows: Interactions, window_days: float = 7.0) -> Window | None:
    """The recent window of the log ``rows``, or None for an empty log."""
    if len(rows) == 0:
        return None
    first, end = float(rows.time.min()), float(rows.time.max())
    span = end - first
    if span >= MIN_WINDOWS * window_days * DAY:
        return Window(end - window_days * DAY, end, f"last {window_days:g} days")
    # The time of each event once (an event of several items has several rows).
    _, at = np.unique(rows.event, return_index=True)
    times = np.sort(rows.time[at])
    take = max(1, math.ceil(SHORT_LOG_SHARE * len(times)))
    return Window(float(times[len(times) - take]), end,
                  f"last {SHORT_LOG_SHARE:.0%} of events (the log spans {span / DAY:.1f} "
                  f"days, under {MIN_WINDOWS} windows of {window_days:g})")


def unseen_part(window: Window, seen_until: float) -> Window:
    """The part of ``window`` after ``seen_until`` (a model's newest event); empty when
    the model has seen all of it."""
    if seen_until < window.start:
        return window
    return Window(float(np.nextafter(seen_until, np.inf)), window.end,
                  f"{window.rule}, after the current model's newest event")


def relevant_pairs(before: Interactions, window: Interactions, n_items: int
               ) -> tuple[I64, I64, I64]:
    """``(shoppers, test_user, test_item)``: the test shoppers (ascending shopper ids)
    and, per relevant pair, the shopper's position in ``shoppers`` and the item. A pair
    is a shopper with rows in ``before`` and an item they touch in ``window`` but not in
    ``before``."""
    had = np.unique(before.shopper * n_items + before.item)
    new = np.unique(window.shopper * n_items + window.item)
    new = new[~np.isin(new, had, assume_unique=True)]
    shopper, item = new // n_items, new % n_items
    known = np.isin(shopper, before.shopper)
    shopper, item = shopper[known], item[known]
    shoppers, test_user = np.unique(shopper, return_inverse=True)
    return (shoppers.astype(np.int64), test_user.astype(np.int64).reshape(-1),
            item.astype(np.int64))


@dataclass(frozen=True, slots=True)
class WindowReport:
    """How one model did on the window."""

    #: Test shoppers, and (shopper, new item) pairs they had to be recommended.
    shoppers: int
    relevant: int
    for_you: Metrics
    bestsellers: Metrics

    def as_dict(self) -> dict[str, Any]:
        return {"shoppers": self.shoppers, "relevant": self.relevant,
                "for_you": _metrics(self.for_you), "bestsellers": _metrics(self.bestsellers)}


def _metrics(m: Metrics) -> dict[str, float | int]:
    # Revenue is left out: the window's rows carry no prices, and NaN is not JSON.
    return {"ndcg": m.ndcg, "hit_rate": m.hit_rate, "recall": m.recall, "mrr": m.mrr,
            "coverage": m.coverage, "k": m.k, "recall_k": m.recall_k}


def evaluate_window(model: Model, rows_before: Interactions, rows_window: Interactions,
                    n_items: int, k: int = 10) -> WindowReport:
    """Score ``model`` (whose items are the rows' item indices: see :func:`align`) on
    the window: each test shopper's history in ``rows_before`` is the seed, their new
    items in ``rows_window`` the relevant ones. NDCG@k, HR@k and coverage@k over the
    catalog; Recall@20."""
    if len(model.item_ids) != n_items:
        raise ValueError(f"the model has {len(model.item_ids)} items, the rows index "
                         f"{n_items}: align it first")
    shoppers, test_user, test_item = relevant_pairs(rows_before, rows_window, n_items)
    v = len(shoppers)
    pos = np.full(int(rows_before.shopper.max(initial=-1)) + 1, -1, np.int64)
    pos[shoppers] = np.arange(v)
    mine = pos[rows_before.shopper] >= 0
    vs, vi = pos[rows_before.shopper[mine]], rows_before.item[mine]
    weights = history_weights(vs, vi, rows_before.kind[mine], rows_before.time[mine], v,
                              n_items, decay=model.for_you_decay)
    seen = binary(vs, vi, v, n_items)
    depth = max(k, RECALL_K)
    users = np.arange(v, dtype=np.int64)

    def score(recs: I64) -> Metrics:
        return evaluate(recs, users, test_user, test_item, n_items=n_items, k=k,
                        recall_k=RECALL_K)

    for_you = recommend(table_matrix(model.related), weights, seen, depth)
    best = top_unseen(model.bestseller_order.astype(np.int64), seen, depth)
    return WindowReport(shoppers=v, relevant=len(test_item), for_you=score(for_you),
                        bestsellers=score(best))


def top_unseen(order: I64, seen: sp.csr_matrix, depth: int, block: int = 4096) -> I64:
    """For each row of ``seen``, the first ``depth`` items of ``order`` not in it (-1
    pads)."""
    n_rows = seen.shape[0]
    out = np.full((n_rows, depth), -1, np.int64)
    if n_rows == 0 or len(order) == 0:
        return out
    for a in range(0, n_rows, block):
        part = seen[a:a + block]
        head = order[:depth + int(np.diff(part.indptr).max(initial=0))]
        free = part[:, head].toarray() == 0
        rank = np.cumsum(free, axis=1) - 1
        r, c = np.nonzero(free & (rank < depth))
        out[a + r, rank[r, c]] = head[c]
    return out


def align(model: Model, item_ids: list[str]) -> Model:
    """``model`` indexed by ``item_ids`` (today's catalog) for :func:`evaluate_window`:
    ``related`` and the bestseller order are mapped, items it does not know have no
    neighbours, and items no longer in the catalog are dropped. The other tables are
    emptied: the result is for scoring, not serving."""
    if model.item_ids == item_ids:
        return model
    n = len(item_ids)
    old = np.array([model.index.get(i, -1) for i in item_ids], np.int64)
    new_of_old = np.full(len(model.item_ids) + 1, -1, np.int64)  # [-1] maps padding
    known = np.flatnonzero(old >= 0)
    new_of_old[old[known]] = known
    width = model.related.idx.shape[1]
    idx = np.full((n, width), -1, np.int32)
    score = np.zeros((n, width), np.float32)
    mapped = new_of_old[model.related.idx[old[known]]]
    idx[known] = mapped
    score[known] = np.where(mapped >= 0, model.related.score[old[known]], 0.0)
    order = new_of_old[model.bestseller_order]
    empty = Neighbours.empty(n)
    return replace(model, item_ids=list(item_ids), index={},
                   related=Neighbours(idx, score),
                   bestseller_order=order[order >= 0].astype(np.int32),
                   bestsellers=np.zeros(n, np.float32), trending=np.zeros(n, np.float32),
                   trending_order=np.zeros(0, np.int32), category_order={},
                   alternatives=empty, complements=empty)


def judge(candidate: WindowReport, current: WindowReport, tolerance: float) -> Decision:
    """Accept when the candidate's ``for_you`` NDCG@k is at least (1 - tolerance) times
    the current model's; with no test shopper there is no evidence either way."""
    if candidate.shoppers == 0:
        return "no evidence"
    ok = candidate.for_you.ndcg >= current.for_you.ndcg * (1.0 - tolerance)
    return "accept" if ok else "reject"


@dataclass(frozen=True, slots=True)
class GateReport:
    """What the gate saw and decided; stored as ``stats["gate"]`` of a published model."""

    decision: Decision
    #: Whether the new model was published: by the decision, or because it was forced.
    published: bool
    forced: bool
    tolerance: float
    window: Window | None = None
    #: Events before and in the window, and the test shoppers.
    events_before: int = 0
    events_in_window: int = 0
    shoppers: int = 0
    #: The candidate (fitted on the log before the window) and the current model.
    candidate: WindowReport | None = None
    current: WindowReport | None = None
    current_version: str | None = None
    #: Days of the window the current model had been trained on (0: none).
    current_saw_days: float = 0.0

    @property
    def reason(self) -> str:
        """One sentence that says why."""
        if self.decision == "first model":
            return "there is no current model to compare with"
        if self.decision == "no evidence" and self.events_in_window == 0:
            return "the window holds no events, so there is nothing to compare on"
        if self.decision == "no evidence":
            return ("no shopper with events before the window touched a new item in it, "
                    "so there is nothing to compare on")
        assert self.candidate is not None and self.current is not None
        new, old = self.candidate.for_you.ndcg, self.current.for_you.ndcg
        sign = ">=" if self.decision == "accept" else "<"
        return (f"candidate NDCG@{self.candidate.for_you.k} {new:.4f} {sign} "
                f"{1 - self.tolerance:g} x current {old:.4f}")

    @property
    def bias(self) -> str | None:
        """The caveat when the current model has seen part of the window."""
        if self.current_saw_days <= 0 or self.window is None:
            return None
        days = (self.window.end - self.window.start) / DAY
        return (f"the current model was trained on {self.current_saw_days:.1f} of the "
                f"window's {days:.1f} days, so it is scored partly on what it has seen: "
                "the gate is biased towards keeping it")

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision, "published": self.published, "forced": self.forced,
            "tolerance": self.tolerance, "reason": self.reason, "bias": self.bias,
            "window": None if self.window is None else self.window.as_dict(),
            "events_before": self.events_before, "events_in_window": self.events_in_window,
            "shoppers": self.shoppers,
            "candidate": None if self.candidate is None else self.candidate.as_dict(),
            "current": None if self.current is None else self.current.as_dict(),
            "current_version": self.current_version,
            "current_saw_days": self.current_saw_days,
        }
