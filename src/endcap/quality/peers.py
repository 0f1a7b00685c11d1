"""The open-source peers endcap is measured against, as :class:`~endcap.quality.run.Recommender`
adapters: implicit's item-kNN (cosine), ALS and BPR, RecTools' PureSVD and LightFM's WARP.

Each adapter takes its hyperparameters in ``__init__`` (``params`` holds them), trains on
the binary users × items training matrix of a :class:`~endcap.quality.split.Split` with
the library's own API, and ranks through the library too. Like the references in
:mod:`endcap.quality.baselines`, none recommends an item nobody had in train. The
libraries are optional (the ``bench`` extra) and imported only when an adapter fits;
:func:`unavailable` says why one cannot be used.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import scipy.sparse as sp

from endcap.quality.run import I64, in_blocks, top_excluding
from endcap.quality.split import Split

#: Threads every peer may use (the benchmark machines have 2 cores).
THREADS = 2
SEED = 42


def _lib(module: str) -> Any:
    return importlib.import_module(module)


def unavailable(module: str) -> str | None:
    """Why the peer library ``module`` cannot be imported, or None when it can."""
    try:
        _lib(module)
    except Exception as e:  # a broken build fails in many ways, not only ImportError
        return f"{type(e).__name__}: {e}"
    return None


def _cold(seen: sp.csr_matrix) -> I64:
    """Items no training user had."""
    return np.flatnonzero(np.bincount(seen.indices, minlength=seen.shape[1]) == 0
                          ).astype(np.int64)


class _Implicit:
    """What implicit's three models share: fit on the users × items matrix, batched
    ``recommend`` leaving out the user's training items and the cold items."""

    name = ""
    library = "implicit"

    def __init__(self, **params: float) -> None:
        self.params: dict[str, object] = dict(params)
        self._model: Any = None
        self._seen = sp.csr_matrix((0, 0))
        self._cold = np.zeros(0, np.int64)

    def _make(self) -> Any:
        raise NotImplementedError

    def fit(self, split: Split) -> None:
        self._seen = split.seen()
        self._cold = _cold(self._seen)
        # implicit asks for single-threaded BLAS while it trains: its own threads call it.
        with _lib("threadpoolctl").threadpool_limits(1, "blas"):
            self._model = self._make()
            self._model.fit(self._seen, show_progress=False)

    def recommend(self, users: I64, depth: int) -> I64:
        if not len(users):
            return np.zeros((0, depth), np.int64)
        ids, scores = self._model.recommend(
            users, self._seen[users], N=depth, filter_already_liked_items=True,
            filter_items=self._cold if len(self._cold) else None)
        ids = np.asarray(ids, np.int64)
        # Short lists come back padded with -1 or with the lowest float as the score, and
        # CosineRecommender returns a user's own items (score 0) when it has nothing else.
        rows = np.arange(len(users))[:, None]
        own = np.asarray(self._seen[users][rows, np.maximum(ids, 0)].todense()) > 0
        keep = (ids >= 0) & (np.asarray(scores) > -np.finfo(np.float32).max) & ~own
        order = np.argsort(~keep, axis=1, kind="stable")
        ids = np.take_along_axis(ids, order, axis=1)
        ids[~np.take_along_axis(keep, order, axis=1)] = -1
        return ids


class ItemKNN(_Implicit):
    """implicit's ``CosineRecommender``: item-item cosine similarity, ``K`` neighbours."""

    name = "ItemKNN cosine (implicit)"

    def __init__(self, K: int = 100) -> None:
        super().__init__(K=K)

    def _make(self) -> Any:
        return _lib("implicit.nearest_neighbours").CosineRecommender(
            K=int(self.params["K"]), num_threads=THREADS)  # type: ignore[call-overload]


class ALS(_Implicit):
    """implicit's ``AlternatingLeastSquares`` (Hu, Koren and Volinsky 2008)."""

    name = "ALS (implicit)"

    def __init__(self, factors: int = 64, regularization: float = 0.01,
                 iterations: int = 15, alpha: float = 1.0) -> None:
        super().__init__(factors=factors, regularization=regularization,
                         iterations=iterations, alpha=alpha)

    def _make(self) -> Any:
        p = self.params
        return _lib("implicit.cpu.als").AlternatingLeastSquares(
            factors=p["factors"], regularization=p["regularization"],
            iterations=p["iterations"], alpha=p["alpha"], num_threads=THREADS,
            random_state=SEED)


class BPR(_Implicit):
    """implicit's ``BayesianPersonalizedRanking`` (Rendle et al. 2009)."""

    name = "BPR (implicit)"

    def __init__(self, factors: int = 64, learning_rate: float = 0.01,
                 regularization: float = 0.01, iterations: int = 100) -> None:
        super().__init__(factors=factors, learning_rate=learning_rate,
                         regularization=regularization, iterations=iterations)

    def _make(self) -> Any:
        p = self.params
        return _lib("implicit.cpu.bpr").BayesianPersonalizedRanking(
            factors=p["factors"], learning_rate=p["learning_rate"],
            regularization=p["regularization"], iterations=p["iterations"],
            num_threads=THREADS, random_state=SEED)


class PureSVD:
    """RecTools' ``PureSVDModel``: a truncated SVD of the interaction matrix."""

    name = "PureSVD (RecTools)"
    library = "rectools"

    def __init__(self, factors: int = 64) -> None:
        self.params: dict[str, object] = {"factors": factors}
        self._model: Any = None
        self._dataset: Any = None

    def fit(self, split: Split) -> None:
        rt, pd = _lib("rectools"), _lib("pandas")
        c = rt.Columns
        train = split.train
        frame = pd.DataFrame({
            c.User: train["user"].to_numpy(), c.Item: train["item"].to_numpy(),
            c.Weight: np.ones(len(train), np.float32),
            c.Datetime: pd.to_datetime(train["timestamp"].to_numpy(), unit="s")})
        self._dataset = _lib("rectools.dataset").Dataset.construct(frame)
        self._model = _lib("rectools.models").PureSVDModel(
            factors=self.params["factors"], random_state=SEED,
            recommend_n_threads=THREADS)
        self._model.fit(self._dataset)

    def recommend(self, users: I64, depth: int) -> I64:
        out = np.full((len(users), depth), -1, np.int64)
        if not len(users):
            return out
        c = _lib("rectools").Columns
        reco = self._model.recommend(users=users, dataset=self._dataset, k=depth,
                                     filter_viewed=True)
        order = np.argsort(users, kind="stable")
        row = order[np.searchsorted(users, reco[c.User].to_numpy(), sorter=order)]
        out[row, reco[c.Rank].to_numpy().astype(np.int64) - 1] = reco[c.Item].to_numpy()
        return out


class LightFMWarp:
    """LightFM (Kula 2015) with the WARP loss and no side features."""

    name = "LightFM WARP"
    library = "lightfm"

    def __init__(self, components: int = 64, learning_rate: float = 0.05,
                 epochs: int = 30, item_alpha: float = 0.0) -> None:
        self.params: dict[str, object] = {
            "components": components, "learning_rate": learning_rate, "epochs": epochs,
            "item_alpha": item_alpha}
        self._seen = sp.csr_matrix((0, 0))
        self._user = np.zeros((0, 0), np.float32)
        self._item = np.zeros((0, 0), np.float32)
        self._bias = np.zeros(0, np.float32)

    def fit(self, split: Split) -> None:
        p = self.params
        self._seen = split.seen()
        model = _lib("lightfm").LightFM(
            no_components=p["components"], loss="warp", learning_rate=p["learning_rate"],
            item_alpha=p["item_alpha"], random_state=SEED)
        model.fit(self._seen.tocoo(), epochs=p["epochs"], num_threads=THREADS)
        _, self._user = model.get_user_representations()
        self._bias, self._item = model.get_item_representations()
        self._bias = self._bias.copy()
        self._bias[_cold(self._seen)] = -np.inf

    def recommend(self, users: I64, depth: int) -> I64:
        # LightFM's predict() scores one (user, item) pair at a time; its representations
        # give the same scores (less the user's bias, which does not change a user's order)
        # for a whole block at once.
        out = [top_excluding(self._user[b] @ self._item.T + self._bias, self._seen[b], depth)
               for b in in_blocks(users, len(self._bias))]
        return np.vstack(out) if out else np.zeros((0, depth), np.int64)
