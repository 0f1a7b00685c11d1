"""Keyword search over item texts (BM25), and its fusion with the embedding search.

The index is ``bm25s``'s (Lucene's BM25, k1 = 1.5, b = 0.75) over our own tokens: the
text lower-cased, split into words of two or more letters or digits, English stopwords
dropped, and each word reduced to its Snowball English stem when PyStemmer is installed
(``comedies`` and ``comedy`` both become ``comedi``). Both libraries are imported when an
index is built, never when this module is, so the service starts without them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Rows = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float32]
#: Row numbers into the indexed texts (or the catalog), best first, with their scores.
Ranked = tuple[Rows, Scores]

#: bm25s' own default: words of two or more word characters.
WORD = re.compile(r"(?u)\b\w\w+\b")


def empty() -> Ranked:
    """No results."""
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)


def _stemmer() -> Callable[[list[str]], list[str]] | None:
    """Snowball English from PyStemmer, or None when it is not installed."""
    try:
        import Stemmer  # type: ignore[import-not-found]
    except ImportError:
        return None
    stem: Callable[[list[str]], list[str]] = Stemmer.Stemmer("english").stemWords
    return stem


class LexicalIndex:
    """BM25 over a fixed list of texts; row ``i`` is ``texts[i]``. Read-only once built,
    so one index can serve concurrent searches."""

    def __init__(self, bm25: Any, vocab: dict[str, int], n: int,
                 stem: Callable[[list[str]], list[str]] | None,
                 stopwords: frozenset[str]) -> None:
        # Use build(); this only holds what it made.
        self._bm25 = bm25
        self._vocab = vocab
        self._n = n
        self._stem = stem
        self._stopwords = stopwords

    @classmethod
    def build(cls, texts: Sequence[str], *, stem: bool = True) -> LexicalIndex:
        """The index of ``texts``. ``stem=False``, or PyStemmer missing, keeps words whole
        (:attr:`stemmed` says which)."""
        import bm25s
        from bm25s.stopwords import STOPWORDS_EN

        stemmer = _stemmer() if stem else None
        index = cls(None, {}, len(texts), stemmer, frozenset(STOPWORDS_EN))
        docs = [index.tokens(t) for t in texts]
        if any(docs):  # bm25s cannot index a corpus without a single term
            index._bm25 = bm25s.BM25()
            index._bm25.index(docs, show_progress=False)
            index._vocab = dict(index._bm25.vocab_dict)
        return index

    @property
    def stemmed(self) -> bool:
        return self._stem is not None

    def __len__(self) -> int:
        return self._n

    def tokens(self, text: str) -> list[str]:
        """The terms ``text`` is indexed (or searched) by, in order."""
        words = [w for w in WORD.findall(text.lower()) if w not in self._stopwords]
        return self._stem(words) if self._stem else words

    def search(self, query: str, k: int) -> Ranked:
        """The ``k`` best rows for ``query`` and their BM25 scores, best first; ties go
        to the lower row. Only rows sharing a term with the query are returned, so a
        query of stopwords or unknown words finds nothing."""
        ids = list(dict.fromkeys(self._vocab[t] for t in self.tokens(query)
                                 if t and t in self._vocab))
        if not ids or k <= 0:
            return empty()
        scores = np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)
        return top(scores, k)


def top(scores: Scores, k: int) -> Ranked:
    """The ``k`` rows of ``scores`` with the highest positive scores, best first, ties to
    the lower row."""
    hits = np.flatnonzero(scores > 0)
    if len(hits) > k:
        # Everything scoring at least the k-th best, so that ties at the cut are settled
        # by row below rather than by argpartition.
        kth = np.partition(scores[hits], len(hits) - k)[len(hits) - k]
        hits = hits[scores[hits] >= kth]
    order = np.lexsort((hits, -scores[hits]))[:k]
    rows = hits[order].astype(np.int64)
    return rows, scores[rows].astype(np.float32)


#: Reciprocal-rank fusion's constant (Cormack, Clarke and Büttcher, SIGIR 2009): it damps
#: the lead of the very first ranks.
RRF_C = 60


def fuse(dense: Ranked, lexical: Ranked, weight: float, k: int, *, c: float = RRF_C
         ) -> Ranked:
    """The hybrid of an embedding search and a keyword search, by weighted reciprocal-rank
    fusion: a row scores ``weight`` / (``c`` + its rank in ``dense``) plus
    (1 − ``weight``) / (``c`` + its rank in ``lexical``), ranks counted from 1 and a list
    it is missing from adding 0. Both lists are best first. ``weight`` 1 gives the dense
    list, 0 the lexical one; only rows of a list with a positive weight are returned. Ties
    go to the row ranked higher in either such list, then the lower row. Returns the
    ``k`` best rows with their fused scores.

    Why ranks and not the scores: the two scores have no common scale (a cosine in
    [−1, 1]; BM25 unbounded, growing with the query's length and the terms' rarity), and
    the usual fix, min-max normalising each list per query, makes the fused order hang on
    each list's best and worst candidate. Ranks need no normalisation. On
    ``bench/semantic_text.py`` (MovieLens tags as queries) this scored the better
    validation NDCG@10 than the min-max convex combination of the scores, with the query
    as typed and phrased as "a movie that is <tag>", though by less than the
    benchmark's noise (bench/README.md, "Free-text retrieval (issue 5)").
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be between 0 and 1, not {weight}")
    sides = [(w, np.asarray(rows, dtype=np.int64))
             for w, (rows, _) in ((weight, dense), (1.0 - weight, lexical)) if w > 0]
    if k <= 0 or not any(len(r) for _, r in sides):
        return empty()
    rows = np.unique(np.concatenate([r for _, r in sides]))
    fused = np.zeros(len(rows))
    best_rank = np.full(len(rows), np.iinfo(np.int64).max)
    for w, r in sides:
        at = np.searchsorted(rows, r)
        ranks = np.arange(len(r))
        fused[at] += w / (c + 1 + ranks)
        np.minimum.at(best_rank, at, ranks)
    order = np.lexsort((rows, best_rank, -fused))[:k]
    return rows[order], fused[order].astype(np.float32)
