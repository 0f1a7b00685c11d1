"""top_excluding: the dense top-k every offline recommender ranks with."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from endcap.quality.run import top_excluding


@pytest.mark.parametrize("seed", range(40))
def test_top_excluding_is_a_stable_sort_without_seen_or_infinite_scores(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 5, (7, 40)).astype(np.float64)  # many ties
    scores[rng.random(scores.shape) < (0.2 if seed % 2 else 0.8)] = -np.inf
    seen = sp.csr_matrix((rng.random((7, 40)) < 0.1).astype(np.float64))
    got = top_excluding(scores.copy(), seen, 10)
    dense_seen = seen.toarray() > 0
    for r in range(7):
        ok = [c for c in range(40) if np.isfinite(scores[r, c]) and not dense_seen[r, c]]
        want = sorted(ok, key=lambda c: (-scores[r, c], c))[:10]
        assert got[r].tolist() == want + [-1] * (10 - len(want))


def test_top_excluding_pads_when_the_catalog_is_shorter_than_the_depth() -> None:
    got = top_excluding(np.array([[0.5, 2.0, 1.0]]), sp.csr_matrix((1, 3)), 5)
    assert got.tolist() == [[1, 2, 0, -1, -1]]
