"""Content-based alternatives blended with collaborative ones (hand-computed)."""

from __future__ import annotations

import numpy as np

from endcap.train.blend import blend
from endcap.train.model import Neighbours


def table(rows: list[list[tuple[int, float]]], k: int = 3) -> Neighbours:
    nb = Neighbours.empty(len(rows), k)
    for i, row in enumerate(rows):
        for j, (idx, s) in enumerate(row):
            nb.idx[i, j], nb.score[i, j] = idx, s
    return nb


COLLAB = table([[(1, 4.0), (2, 2.0)], [], [], []])
CONTENT = table([[(3, 0.9), (2, 0.45)], [(0, 0.8)], [], []])


def test_weights_follow_interaction_counts() -> None:
    # Item 0 has 10 interactions, shrink 10: w = 0.5. Collab scaled to 1, 0.5; content
    # to 1, 0.5. Scores: item 1 = 0.5, item 2 = 0.25 + 0.25 = 0.5, item 3 = 0.5.
    out, text = blend(COLLAB, CONTENT, np.array([10, 0, 0, 0]), 10.0, 3)
    assert out.idx[0].tolist() == [1, 2, 3]  # equal scores: lower index first
    assert np.allclose(out.score[0], [0.5, 0.5, 0.5])
    assert text[0].tolist() == [False, False, True]
    # Item 1 has no interactions: text alone.
    assert out.idx[1].tolist() == [0, -1, -1] and text[1, 0]


def test_extremes() -> None:
    collab_only, text = blend(COLLAB, CONTENT, np.array([1, 0, 0, 0]), 0.0, 3)
    assert collab_only.idx[0].tolist() == [1, 2, -1] and not text[0].any()
    assert collab_only.idx[1].tolist() == [0, -1, -1]  # nothing known: text fills in
    text_only, text = blend(COLLAB, CONTENT, np.array([100, 0, 0, 0]), float("inf"), 3)
    assert text_only.idx[0].tolist() == [3, 2, -1] and text[0, :2].all()
