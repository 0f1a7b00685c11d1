"""for_you's model: EASE, transitions, history weights and the validation holdout,
against answers computed independently here."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import endcap.strategies.personal as personal
from endcap.strategies.base import Context
from endcap.strategies.personal import for_you
from endcap.stream.history import ShopperHistory
from endcap.train.interactions import KIND_CODES, Interactions
from endcap.train.linear import ease, sequences, transitions
from endcap.train.model import Model, Neighbours
from endcap.train.personal import history_weights
from endcap.train.tune import binary, combine, holdout, recommend, table_matrix

KINDS = list(KIND_CODES)


def closed_form(x: np.ndarray, lam: float) -> np.ndarray:
    """EASE as the paper writes it, in float64 with a general inverse."""
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    b = np.eye(len(p)) - p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    return b


def test_ease_matches_the_closed_form_on_the_head() -> None:
    rng = np.random.default_rng(3)
    x = (rng.random((60, 12)) < 0.3).astype(np.float64)
    head = np.array([0, 2, 3, 5, 7, 8, 11])
    got = ease(sp.csr_matrix(x), 4.0, head)
    assert got.dtype == np.float32 and got.shape == (7, 7)
    np.testing.assert_allclose(got, closed_form(x[:, head], 4.0), atol=2e-5)


def test_sequences_collapse_repeats_and_break_ties_by_row_order() -> None:
    shopper = np.array([1, 0, 0, 0, 1, 0])
    item = np.array([5, 2, 2, 3, 6, 4])
    time = np.array([0.0, 1.0, 2.0, 3.0, 0.0, 3.0])
    s, i = sequences(shopper, item, time)
    assert s.tolist() == [0, 0, 0, 1, 1]
    assert i.tolist() == [2, 3, 4, 5, 6]


def test_transitions_count_decayed_gaps_over_shrunk_row_totals() -> None:
    # Shopper 0: A B C; shopper 1: A C.  Gap 1 weighs 1, gap 2 weighs 0.5.
    s = np.array([0, 0, 0, 1, 1])
    i = np.array([0, 1, 2, 0, 2])
    t = transitions(s, i, 3, max_gap=2, gap_decay=0.5, shrink=1.0).toarray()
    # A: ->B 1, ->C 0.5 + 1 = 1.5 (total 2.5);  B: ->C 1 (total 1).
    np.testing.assert_allclose(t[0], [0.0, 1 / 3.5, 1.5 / 3.5], rtol=1e-6)
    np.testing.assert_allclose(t[1], [0.0, 0.0, 1 / 2.0], rtol=1e-6)
    np.testing.assert_allclose(t[2], [0.0, 0.0, 0.0])


def test_combine_keeps_each_rows_best_positive_entries_without_the_item() -> None:
    base = sp.csr_matrix(np.array([[0.0, 0.5, -0.2], [0.1, 0.0, 0.3], [0.0, 0.0, 0.0]]))
    trans = sp.csr_matrix(np.array([[0.9, 0.0, 0.4], [0.0, 0.0, 0.0], [0.2, 0.0, 0.0]]))
    nb = combine(base, trans, 1.0, 2)
    assert nb.idx.tolist() == [[1, 2], [2, 0], [0, -1]]
    np.testing.assert_allclose(nb.score[0], [0.5, 0.2], rtol=1e-6)


@pytest.mark.parametrize("seed", range(20))
def test_history_weights_and_recommend_serve_what_for_you_serves(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The vectorised twin (validation, ``endcap evaluate``) ranks every shopper as the
    live strategy does: same items, same order, same scores."""
    rng = np.random.default_rng(seed)
    n_items, n_shoppers, k = 40, 6, 5
    nb_idx = np.full((n_items, k), -1, np.int32)
    nb_score = np.zeros((n_items, k), np.float32)
    for i in range(n_items):
        cols = rng.choice([c for c in range(n_items) if c != i], rng.integers(0, k + 1),
                          replace=False)
        nb_idx[i, :len(cols)] = cols
        nb_score[i, :len(cols)] = np.sort(rng.random(len(cols)))[::-1]
    ids = [f"i{j}" for j in range(n_items)]
    decay = float(rng.choice([0.3, 0.7, 0.9]))
    model = Model(version="v", trained_at=0.0, reference_time=0.0, item_ids=ids,
                  bestsellers=np.zeros(n_items, np.float32),
                  bestseller_order=np.zeros(0, np.int32),
                  trending=np.zeros(n_items, np.float32), trending_order=np.zeros(0, np.int32),
                  category_order={}, alternatives=Neighbours.empty(n_items),
                  complements=Neighbours.empty(n_items),
                  related=Neighbours(nb_idx, nb_score), for_you_decay=decay)
    n_rows = 120
    shopper = rng.integers(0, n_shoppers, n_rows)
    item = rng.integers(0, n_items, n_rows)
    kind = rng.integers(0, 4, n_rows)
    time = rng.integers(0, 30, n_rows).astype(np.float64)  # many ties
    weights = history_weights(shopper, item, kind, time, n_shoppers, n_items, decay=decay,
                              window=8, max_events=25)
    seen = binary(shopper, item, n_shoppers, n_items)
    got = recommend(table_matrix(model.related), weights, seen, 10)
    monkeypatch.setattr(personal, "FOR_YOU_ITEMS", 8)
    for u in range(n_shoppers):
        mine = np.flatnonzero(shopper == u)
        order = mine[np.lexsort((mine, time[mine]))]
        history = ShopperHistory(events=[(float(time[r]), KINDS[kind[r]], ids[item[r]])
                                         for r in order][-25:])
        served = list(for_you(Context(model=model, history=history, exclude_bought=False)))
        # Offline leaves out everything the shopper had; the strategy only its window:
        # compare after the same filter, as the engine applies one.
        had = {ids[i] for i in item[mine]}
        served = [(iid, s) for iid, s in served if iid not in had][:10]
        want = [ids[i] for i in got[u] if i >= 0]
        assert [iid for iid, _ in served] == want


def test_holdout_leaves_out_each_shoppers_last_new_item_and_what_follows() -> None:
    # Shopper 0: A(1) B(2) A(3) C(4) B(5)  -> target C, fit rows before t=4.
    # Shopper 1: A(1) B(2)                 -> too few distinct items, all kept.
    shopper = np.array([0, 0, 0, 0, 0, 1, 1])
    item = np.array([0, 1, 0, 2, 1, 0, 1])
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 2.0])
    n = len(item)
    rows = Interactions(event=np.arange(n), kind=np.full(n, 3), item=item,
                        quantity=np.ones(n), time=time, shopper=shopper, session=shopper)
    h = holdout(rows)
    assert h.shoppers.tolist() == [0] and h.targets.tolist() == [2]
    assert h.fit.tolist() == [True, True, True, False, False, True, True]
