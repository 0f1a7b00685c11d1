"""BM25 search and its fusion with the dense search, against figures computed by hand."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from endcap.semantic.lexical import RRF_C, LexicalIndex, fuse, top

# Unstemmed terms (stopword "the" dropped), lengths 2, 3, 3, 2: the mean is 2.5.
CORPUS = ["red apple", "red red car", "green apple pie", "the blue car"]
K1, B, AVGDL, N = 1.5, 0.75, 2.5, 4


def idf(df: int) -> float:
    return math.log(1 + (N - df + 0.5) / (df + 0.5))


def tf(count: int, length: int) -> float:
    """Lucene's BM25 term weight, as bm25s computes it."""
    return count / (count + K1 * (1 - B + B * length / AVGDL))


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    pytest.importorskip("bm25s")
    return LexicalIndex.build(CORPUS, stem=False)


def test_bm25_scores_and_order(index: LexicalIndex) -> None:
    rows, scores = index.search("red", 10)
    # Twice "red" in a longer text beats once in a shorter one.
    assert rows.tolist() == [1, 0]
    np.testing.assert_allclose(scores, [idf(2) * tf(2, 3), idf(2) * tf(1, 2)], rtol=1e-5)
    assert rows.dtype == np.int64 and scores.dtype == np.float32


def test_terms_add_up_and_rare_terms_weigh_more(index: LexicalIndex) -> None:
    rows, scores = index.search("Apple  PIE", 10)
    assert rows.tolist() == [2, 0]
    np.testing.assert_allclose(
        scores, [idf(2) * tf(1, 3) + idf(1) * tf(1, 3), idf(2) * tf(1, 2)], rtol=1e-5)


def test_k_cuts_the_list(index: LexicalIndex) -> None:
    assert index.search("red car", 1)[0].tolist() == [1]
    assert len(index.search("red", 0)[0]) == 0


@pytest.mark.parametrize("query", ["", "   ", "the", "a", "zebra", "x"])
def test_nothing_to_match_finds_nothing(index: LexicalIndex, query: str) -> None:
    rows, scores = index.search(query, 10)
    assert rows.shape == (0,) and scores.shape == (0,)
    assert rows.dtype == np.int64 and scores.dtype == np.float32


def test_corpus_without_terms() -> None:
    pytest.importorskip("bm25s")
    for texts in ([], ["", "the"]):
        ix = LexicalIndex.build(texts)
        assert len(ix) == len(texts)
        assert len(ix.search("the red", 5)[0]) == 0


def test_stemming_joins_word_forms() -> None:
    pytest.importorskip("bm25s")
    pytest.importorskip("Stemmer")
    ix = LexicalIndex.build(["Comedies (1990)", "A dramatic comedy", "Drama"])
    assert ix.stemmed
    assert sorted(ix.search("comedy", 5)[0].tolist()) == [0, 1]


def test_import_leaves_bm25s_alone() -> None:
    code = ("import sys, endcap.semantic.lexical; "
            "sys.exit(('bm25s' in sys.modules) + 2 * ('Stemmer' in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_top_breaks_ties_by_row() -> None:
    scores = np.array([0, 2, 1, 2, 0, -1], dtype=np.float32)
    assert top(scores, 2)[0].tolist() == [1, 3]
    assert top(scores, 1)[0].tolist() == [1]
    assert top(scores, 10)[0].tolist() == [1, 3, 2]  # zero and negative: no match


def ranked(rows: list[int], scores: list[float]) -> tuple[np.ndarray, np.ndarray]:
    return np.array(rows, dtype=np.int64), np.array(scores, dtype=np.float32)


DENSE = ranked([10, 20, 30], [0.9, 0.8, 0.1])
LEXICAL = ranked([30, 40], [5.0, 2.0])


def test_fuse_adds_weighted_reciprocal_ranks() -> None:
    rows, scores = fuse(DENSE, LEXICAL, 0.5, 10)
    # 30: both lists; 20 and 40 tie (each second in one list), the lower row first.
    assert rows.tolist() == [30, 10, 20, 40]
    c = RRF_C
    np.testing.assert_allclose(
        scores, [0.5 / (c + 3) + 0.5 / (c + 1), 0.5 / (c + 1), 0.5 / (c + 2), 0.5 / (c + 2)],
        rtol=1e-6)
    assert rows.dtype == np.int64 and scores.dtype == np.float32


def test_fuse_weight_and_constant() -> None:
    # c = 0: 30 gets 0.2 / 3 + 0.8 / 1, 40 gets 0.8 / 2, 10 gets 0.2 / 1, 20 0.2 / 2.
    rows, scores = fuse(DENSE, LEXICAL, 0.2, 10, c=0)
    assert rows.tolist() == [30, 40, 10, 20]
    np.testing.assert_allclose(scores, [0.2 / 3 + 0.8, 0.4, 0.2, 0.1], rtol=1e-6)
    assert fuse(DENSE, LEXICAL, 0.5, 2)[0].tolist() == [30, 10]


def test_fuse_extremes_give_one_list() -> None:
    rows, scores = fuse(DENSE, LEXICAL, 1.0, 10)
    assert rows.tolist() == [10, 20, 30]
    np.testing.assert_allclose(scores, [1 / (RRF_C + r) for r in (1, 2, 3)], rtol=1e-6)
    rows, scores = fuse(DENSE, LEXICAL, 0.0, 10)
    assert rows.tolist() == [30, 40]
    np.testing.assert_allclose(scores, [1 / (RRF_C + 1), 1 / (RRF_C + 2)], rtol=1e-6)
    # The lexical list alone, even when the dense list is empty or ranks them otherwise.
    assert fuse(ranked([], []), LEXICAL, 0.0, 10)[0].tolist() == [30, 40]
    assert len(fuse(ranked([], []), LEXICAL, 1.0, 10)[0]) == 0


def test_fuse_edges() -> None:
    assert len(fuse(ranked([], []), ranked([], []), 0.5, 10)[0]) == 0
    assert len(fuse(DENSE, LEXICAL, 0.5, 0)[0]) == 0
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            fuse(DENSE, LEXICAL, bad, 10)
