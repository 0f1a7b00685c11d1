"""Every ranking metric against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from endcap.quality.metrics import evaluate

DEPTH = 20
LOG3 = math.log2(3)


def lists(*rows: list[int]) -> np.ndarray:
    """Ranked lists padded with -1 to ``DEPTH`` columns."""
    return np.array([r + [-1] * (DEPTH - len(r)) for r in rows], np.int64)


def ids(*xs: int) -> np.ndarray:
    return np.array(xs, np.int64)


def test_single_relevant_item_at_rank_1() -> None:
    m = evaluate(lists([7, 1, 2]), ids(0), ids(0), ids(7), n_items=10)
    assert (m.users, m.ndcg, m.hit_rate, m.recall, m.mrr) == (1, 1.0, 1.0, 1.0, 1.0)


def test_single_relevant_item_at_rank_3() -> None:
    m = evaluate(lists([1, 2, 7]), ids(0), ids(0), ids(7), n_items=10)
    assert m.ndcg == pytest.approx(0.5)  # 1 / log2(3 + 1)
    assert m.hit_rate == 1.0
    assert m.mrr == pytest.approx(1 / 3)
    assert m.recall == 1.0


def test_single_relevant_item_absent() -> None:
    m = evaluate(lists([1, 2, 3]), ids(0), ids(0), ids(7), n_items=10)
    assert (m.ndcg, m.hit_rate, m.recall, m.mrr) == (0.0, 0.0, 0.0, 0.0)


def test_means_over_users_ranks_1_3_absent() -> None:
    recs = lists([5, 1], [1, 2, 5], [1, 2, 3])
    m = evaluate(recs, ids(0, 1, 2), ids(0, 1, 2), ids(5, 5, 5), n_items=10)
    assert m.users == 3
    assert m.ndcg == pytest.approx((1 + 0.5 + 0) / 3)
    assert m.hit_rate == pytest.approx(2 / 3)
    assert m.recall == pytest.approx(2 / 3)
    assert m.mrr == pytest.approx((1 + 1 / 3) / 3)


def test_a_hit_past_k_counts_only_for_recall() -> None:
    ranked = [*range(100, 114), 7]  # the relevant item at rank 15
    m = evaluate(lists(ranked), ids(0), ids(0), ids(7), n_items=200, k=10, recall_k=20)
    assert (m.ndcg, m.hit_rate, m.mrr) == (0.0, 0.0, 0.0)
    assert m.recall == 1.0
    assert m.coverage == pytest.approx(10 / 200)  # coverage looks at the top 10 only


def test_several_relevant_items() -> None:
    # User 0 must get {1, 2, 3} and is shown 1, 9, 2: hits at ranks 1 and 3.
    # User 1 must get {4, 5, 6, 8} and is shown, with k = 2, 9 then 4: one hit at rank 2.
    recs = lists([1, 9, 2], [9, 4])
    m = evaluate(recs, ids(0, 1), ids(0, 0, 0, 1, 1, 1, 1), ids(1, 2, 3, 4, 5, 6, 8),
                 n_items=10, k=2, recall_k=3)
    ndcg0 = 1.0 / (1 + 1 / LOG3)  # rank 3 is past k = 2: DCG 1; ideal: two hits
    ndcg1 = (1 / LOG3) / (1 + 1 / LOG3)
    assert m.ndcg == pytest.approx((ndcg0 + ndcg1) / 2)
    assert m.hit_rate == 1.0
    assert m.recall == pytest.approx((2 / 3 + 1 / 4) / 2)  # recall@3
    assert m.mrr == pytest.approx((1 + 1 / 2) / 2)

    m10 = evaluate(recs, ids(0, 1), ids(0, 0, 0), ids(1, 2, 3), n_items=10, k=10,
                   recall_k=10)
    assert m10.users == 1
    assert m10.ndcg == pytest.approx((1 + 0.5) / (1 + 1 / LOG3 + 0.5))
    assert m10.recall == pytest.approx(2 / 3)


def test_coverage_counts_distinct_items_in_the_top_k() -> None:
    recs = lists([0, 1, 5], [1, 2, 6], [])
    m = evaluate(recs, ids(0, 1, 2), ids(0), ids(0), n_items=10, k=2, recall_k=3)
    assert m.coverage == pytest.approx(3 / 10)  # {0, 1, 2}; padding is no item


def test_revenue_hit_rate() -> None:
    recs = lists([1], [9], [9])
    args = (recs, ids(0, 1, 2), ids(0, 1, 2), ids(1, 2, 3))
    m = evaluate(*args, n_items=10, test_price=np.array([10.0, 30.0, np.nan]))
    assert m.revenue_hit_rate == pytest.approx(10 / 40)  # the unknown price is left out
    assert math.isnan(evaluate(*args, n_items=10).revenue_hit_rate)
    no_prices = evaluate(*args, n_items=10, test_price=np.full(3, np.nan))
    assert math.isnan(no_prices.revenue_hit_rate)


def test_a_test_user_without_a_list_is_all_misses() -> None:
    m = evaluate(lists([7]), ids(0), ids(0, 3), ids(7, 7), n_items=10)
    assert m.users == 2
    assert (m.ndcg, m.hit_rate, m.recall, m.mrr) == (0.5, 0.5, 0.5, 0.5)

    nobody = evaluate(np.zeros((0, DEPTH), np.int64), ids(), ids(4), ids(7), n_items=10)
    assert (nobody.users, nobody.ndcg, nobody.hit_rate, nobody.coverage) == (1, 0, 0, 0)


def test_no_test_users() -> None:
    m = evaluate(np.zeros((0, DEPTH), np.int64), ids(), ids(), ids(), n_items=10)
    assert (m.users, m.ndcg, m.hit_rate, m.recall, m.mrr) == (0, 0.0, 0.0, 0.0, 0.0)


def test_lists_shorter_than_the_depth_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 20"):
        evaluate(np.zeros((1, 10), np.int64), ids(0), ids(0), ids(1), n_items=10)
