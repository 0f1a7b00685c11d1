"""Shopper events flattened into columns: one row per (event, catalog item).

The trainer touches each event once, in Python, to pull out the few fields it needs;
everything after that is numpy on these columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from endcap.events.model import Event
from endcap.events.validate import to_epoch

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: Codes of the event kinds the trainer learns from, in increasing order of intent.
VIEW, CLICK, CART, PURCHASE = 0, 1, 2, 3
KIND_CODES: dict[str, int] = {"view": VIEW, "click": CLICK, "add_to_cart": CART,
                              "purchase": PURCHASE}


@dataclass(frozen=True, slots=True)
class Interactions:
    """Row ``r`` says: in event ``event[r]`` of kind ``kind[r]`` at ``time[r]``, shopper
    ``shopper[r]`` touched catalog item ``item[r]`` (``quantity[r]`` units if bought)."""

    event: I64
    kind: I64
    item: I64
    quantity: F64
    time: F64
    #: The known user, else the session, else the event alone: whose taste it shows.
    shopper: I64
    #: A browsing session: ``session_id`` (else ``user_id``) split at idle gaps.
    session: I64

    def __len__(self) -> int:
        return len(self.item)

    def select(self, keep: npt.NDArray[np.bool_]) -> Interactions:
        """The rows where ``keep`` is true."""
        return Interactions(self.event[keep], self.kind[keep], self.item[keep],
                            self.quantity[keep], self.time[keep], self.shopper[keep],
                            self.session[keep])


def collect(events: Iterable[Event], index: Mapping[str, int], *, default_time: float,
            session_gap: float) -> Interactions:
    """Flatten ``events`` into rows, dropping kinds that say nothing of taste (impressions,
    searches) and items not in ``index``. An event without a time gets ``default_time``."""
    e_kind: list[int] = []
    e_time: list[float] = []
    e_user: list[int] = []
    e_sess: list[int] = []
    r_event: list[int] = []
    r_item: list[int] = []
    r_qty: list[int] = []
    users: dict[str, int] = {}
    sessions: dict[str, int] = {}
    get = index.get
    for ev in events:
        kind = KIND_CODES.get(ev.type)
        if kind is None:
            continue
        n = len(e_kind)
        if ev.item_id is not None and (i := get(ev.item_id)) is not None:
            r_event.append(n)
            r_item.append(i)
            r_qty.append(1)
        if ev.items:
            for line in ev.items:
                if (i := get(line.id)) is not None:
                    r_event.append(n)
                    r_item.append(i)
                    r_qty.append(line.quantity)
        if not r_event or r_event[-1] != n:
            continue  # no catalog item in it
        ts = ev.timestamp
        e_time.append(ts if type(ts) is float else to_epoch(ts, default_time))
        e_kind.append(kind)
        e_user.append(-1 if ev.user_id is None else users.setdefault(ev.user_id, len(users)))
        e_sess.append(-1 if ev.session_id is None
                      else sessions.setdefault(ev.session_id, len(sessions)))

    n_ev = len(e_kind)
    user = np.array(e_user, np.int64)
    sess = np.array(e_sess, np.int64)
    time = np.array(e_time, np.float64)
    alone = np.arange(n_ev, dtype=np.int64)
    # Taste belongs to the user when known; an anonymous session is a shopper of its own.
    shopper = np.where(user >= 0, user,
                       np.where(sess >= 0, len(users) + sess, len(users) + len(sessions) + alone))
    group = np.where(sess >= 0, sess,
                     np.where(user >= 0, len(sessions) + user,
                              len(sessions) + len(users) + alone))
    ev_idx = np.array(r_event, np.int64)
    return Interactions(
        event=ev_idx,
        kind=np.array(e_kind, np.int64)[ev_idx],
        item=np.array(r_item, np.int64),
        quantity=np.array(r_qty, np.float64),
        time=time[ev_idx],
        shopper=shopper[ev_idx],
        session=split_sessions(group, time, session_gap)[ev_idx],
    )


def split_sessions(group: I64, time: F64, gap: float) -> I64:
    """Number the sessions: a new one starts where ``group`` changes or, within a group,
    where more than ``gap`` seconds pass between consecutive events. A ``session_id``
    is split too: storefronts often keep one for days, and only a visit's items are
    alternatives to one another."""
    if len(group) == 0:
        return np.zeros(0, np.int64)
    order = np.lexsort((time, group))
    g, t = group[order], time[order]
    new = np.ones(len(g), bool)
    new[1:] = (g[1:] != g[:-1]) | (np.diff(t) > gap)
    out = np.empty(len(g), np.int64)
    out[order] = np.cumsum(new) - 1
    return out


def incidence(rows: I64, items: I64, values: F64, n_items: int, *,
              max_per_row: int | None = None, time: F64 | None = None) -> sp.csr_matrix:
    """A (row × item) matrix holding, for each pair, the largest of its ``values``.

    Rows are renumbered densely. With ``max_per_row``, only each row's ``max_per_row``
    most recent items (by ``time``) are kept, which bounds the cost of very long
    histories (wholesalers, bots) at pairs = rows × max_per_row².
    """
    if len(rows) == 0:
        return sp.csr_matrix((0, n_items), dtype=np.float64)
    _, r = np.unique(rows, return_inverse=True)
    key = r.astype(np.int64).reshape(-1) * n_items + items
    order = np.argsort(key, kind="stable")
    k = key[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    kk = k[starts]
    vv = np.maximum.reduceat(values[order], starts)
    rr, cc = kk // n_items, kk % n_items
    if max_per_row is not None and time is not None:
        tt = np.maximum.reduceat(time[order], starts)
        o = np.lexsort((-tt, rr))
        rr, cc, vv = rr[o], cc[o], vv[o]
        start = np.searchsorted(rr, rr, side="left")
        keep = np.arange(len(rr)) - start < max_per_row
        rr, cc, vv = rr[keep], cc[keep], vv[keep]
    n_rows = int(rr.max()) + 1 if len(rr) else 0
    return sp.csr_matrix((vv, (rr, cc)), shape=(n_rows, n_items), dtype=np.float64)
