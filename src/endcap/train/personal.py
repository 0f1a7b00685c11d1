"""``for_you``'s model: how a shopper's history becomes item scores, vectorised.

The strategy (:func:`endcap.strategies.personal.for_you`) scores one shopper at a time
from the live history; :func:`history_weights` computes the same weights for many
shoppers at once from logged interactions, so that validation inside ``endcap train``
and ``endcap evaluate`` measure exactly what is served.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from endcap.train.interactions import CART, CLICK, PURCHASE, VIEW

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: How much each event kind says about taste; an item takes its strongest.
KIND_WEIGHTS: Mapping[str, float] = {"purchase": 1.0, "add_to_cart": 0.7, "click": 0.4,
                                     "view": 0.25}
#: The same, by the trainer's kind codes.
KIND_WEIGHT_BY_CODE = np.array([KIND_WEIGHTS["view"], KIND_WEIGHTS["click"],
                                KIND_WEIGHTS["add_to_cart"], KIND_WEIGHTS["purchase"]])
assert (VIEW, CLICK, CART, PURCHASE) == (0, 1, 2, 3)
#: How many of the shopper's latest distinct items ``for_you`` starts from.
WINDOW = 20
#: The newest entries a live history keeps (:data:`endcap.stream.history.MAX_EVENTS`).
HISTORY_EVENTS = 200


def history_weights(shopper: I64, item: I64, kind: I64, time: F64, n_shoppers: int,
                    n_items: int, *, decay: float, window: int = WINDOW,
                    max_events: int = HISTORY_EVENTS) -> sp.csr_matrix:
    """The n_shoppers × n_items matrix of ``for_you``'s seed weights.

    Rows are events (given in the order they were logged, which breaks time ties).
    Per shopper, newest first over their latest ``max_events`` events: the first
    ``window`` distinct items, weighing KIND_WEIGHTS[strongest kind among the events
    before the (window + 1)-th distinct item appears] * decay ** (distinct rank)."""
    if len(item) == 0:
        return sp.csr_matrix((n_shoppers, n_items), dtype=np.float64)
    order = np.lexsort((-np.arange(len(item)), -time, shopper))  # newest first
    s, i, k = shopper[order], item[order], kind[order]
    pos = np.arange(len(s)) - np.searchsorted(s, s, side="left")
    keep = pos < max_events
    s, i, k, pos = s[keep], i[keep], k[keep], pos[keep]
    # Each (shopper, item) pair's first (newest) event, and its distinct rank: how many
    # of the shopper's pairs appeared before it.
    keys, first, inverse = np.unique(s * n_items + i, return_index=True, return_inverse=True)
    by_first = np.argsort(first)
    pair_shopper = s[first[by_first]]
    rank = np.empty(len(keys), np.int64)
    rank[by_first] = (np.arange(len(keys))
                      - np.searchsorted(pair_shopper, pair_shopper, side="left"))
    # The (window + 1)-th distinct item's first event ends what counts.
    cut = np.full(n_shoppers, len(s), np.int64)
    late = rank == window
    cut[s[first[late]]] = pos[first[late]]
    live = pos < cut[s]
    strongest = np.zeros(len(keys))
    np.maximum.at(strongest, inverse[live], KIND_WEIGHT_BY_CODE[k[live]])
    used = strongest > 0
    weight = strongest[used] * decay ** rank[used].astype(np.float64)
    return sp.csr_matrix((weight, (keys[used] // n_items, keys[used] % n_items)),
                         shape=(n_shoppers, n_items))
