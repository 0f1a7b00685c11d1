"""endcap's own models as offline recommenders, scored exactly as they are served."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from endcap.catalog.model import Item
from endcap.quality.baselines import Ease, MostPopular
from endcap.quality.run import I64, Recommender
from endcap.quality.split import Split
from endcap.train.fit import TrainParams, fit_interactions
from endcap.train.interactions import KIND_CODES, PURCHASE, Interactions, split_sessions
from endcap.train.model import Model
from endcap.train.personal import history_weights
from endcap.train.tune import binary, recommend, table_matrix


def interactions(split: Split) -> Interactions:
    """The split's training rows as the trainer's columns. A row without a ``type`` is
    an implicit positive and counts as a purchase."""
    tr = split.train
    kinds = tr["type"].replace_strict(KIND_CODES, default=PURCHASE, return_dtype=pl.Int64)
    user = tr["user"].to_numpy().astype(np.int64)
    time = tr["timestamp"].to_numpy().astype(np.float64)
    if tr["session_id"].null_count() < len(tr):
        codes = tr["session_id"].cast(pl.Categorical).to_physical().to_numpy()
        group = np.where(tr["session_id"].is_null().to_numpy(), -1 - user, codes)
    else:
        group = user
    qty = tr["quantity"].fill_null(1.0).to_numpy().astype(np.float64)
    return Interactions(event=np.arange(len(tr), dtype=np.int64), kind=kinds.to_numpy(),
                        item=tr["item"].to_numpy().astype(np.int64), quantity=qty,
                        time=time, shopper=user,
                        session=split_sessions(group.astype(np.int64), time, 1800.0))


class EndcapForYou:
    """``for_you`` as a pod serves it: the trained model's scores of the shopper's
    history, then bestsellers for any slot left."""

    name = "endcap for_you"

    def __init__(self, catalog: Sequence[Item] = (), params: TrainParams | None = None,
                 fill: bool = True) -> None:
        self.catalog = {it.id: it for it in catalog}
        self.train_params = params or TrainParams()
        self.fill = fill
        self.params: dict[str, object] = {}
        self.model: Model | None = None
        self._split: Split | None = None
        self._rows: Interactions | None = None

    def fit(self, split: Split) -> None:
        items = [self.catalog.get(iid) or Item(id=iid) for iid in split.items]
        self._rows = interactions(split)
        self._split = split
        self.model = fit_interactions(items, self._rows, params=self.train_params)
        self.params = dict(self.model.stats.get("for_you", {}))

    def recommend(self, users: I64, depth: int) -> I64:
        assert self.model is not None and self._rows is not None and self._split is not None
        rows, n = self._rows, self._split.n_items
        pos = np.full(self._split.n_users, -1, np.int64)
        pos[users] = np.arange(len(users))
        mine = pos[rows.shopper] >= 0
        s = pos[rows.shopper[mine]]
        weights = history_weights(s, rows.item[mine], rows.kind[mine], rows.time[mine],
                                  len(users), n, decay=self.model.for_you_decay)
        seen = binary(s, rows.item[mine], len(users), n)
        recs = recommend(table_matrix(self.model.related), weights, seen, depth)
        if self.fill:
            recs = _fill(recs, seen, self.model.bestseller_order.astype(np.int64))
        return recs


def _fill(recs: I64, seen: object, order: I64) -> I64:
    """Fill each list's -1 slots with the first items of ``order`` it lacks and the
    user never had."""
    import scipy.sparse as sp

    assert isinstance(seen, sp.csr_matrix)
    head = order[: recs.shape[1] * 4 + 64]
    for r in np.flatnonzero((recs < 0).any(axis=1)):
        have = set(recs[r][recs[r] >= 0].tolist())
        have.update(seen.indices[seen.indptr[r]:seen.indptr[r + 1]].tolist())
        free = [i for i in head.tolist() if i not in have]
        slots = np.flatnonzero(recs[r] < 0)
        take = free[: len(slots)]
        recs[r, slots[: len(take)]] = take
    return recs


#: The recommenders ``endcap evaluate --models`` can name.
NAMES = ("endcap", "most-popular", "ease")
#: EASE inverts an items × items matrix: above this many items it is left out.
EASE_MAX_ITEMS = 20_000


def default_recommenders(items: Sequence[Item] | None = None,
                         names: Sequence[str] = NAMES, n_items: int = 0
                         ) -> list[Recommender]:
    """What ``endcap evaluate`` compares: endcap's ``for_you`` and two references,
    most-popular and EASE (λ tuned on the validation split; only up to
    :data:`EASE_MAX_ITEMS` items)."""
    unknown = set(names) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown recommender {sorted(unknown)[0]!r}; "
                         f"choose from {', '.join(NAMES)}")
    out: list[Recommender] = []
    if "endcap" in names:
        out.append(EndcapForYou(items or ()))
    if "most-popular" in names:
        out.append(MostPopular())
    if "ease" in names and n_items <= EASE_MAX_ITEMS:
        out.append(Ease(lams=(50.0, 200.0, 800.0)))
    return out
