"""Reference recommenders every evaluation can show beside endcap's own models:
most-popular and EASE (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from endcap.quality.run import I64, in_blocks, run, top_excluding
from endcap.quality.split import Split, validation

F64 = npt.NDArray[np.float64]


class MostPopular:
    """Items by the number of training users who had them."""

    name = "most-popular"

    def __init__(self) -> None:
        self.params: dict[str, object] = {}
        self._count: F64 = np.zeros(0)
        self._seen = sp.csr_matrix((0, 0))

    def fit(self, split: Split) -> None:
        self._seen = split.seen()
        self._count = np.bincount(split.train["item"].to_numpy(), minlength=split.n_items
                                  ).astype(np.float64)
        self._count[self._count == 0] = -np.inf  # never seen in train: never shown

    def recommend(self, users: I64, depth: int) -> I64:
        out = [top_excluding(np.tile(self._count, (len(b), 1)), self._seen[b], depth)
               for b in in_blocks(users, len(self._count))]
        return np.vstack(out) if out else np.zeros((0, depth), np.int64)


def ease_weights(x: sp.csr_matrix, lam: float) -> npt.NDArray[np.float32]:
    """B = I - P / diag(P) with P = (XᵀX + λI)⁻¹, diagonal zeroed (the closed form)."""
    g: F64 = (x.T @ x).toarray().astype(np.float64)  # scipy is untyped: say what it is
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = p / (-np.diag(p))
    b[np.diag_indices_from(b)] = 0.0
    return b.astype(np.float32)


class Ease:
    """EASE on the binary users × items training matrix. With several ``lams``, λ is
    chosen by NDCG@10 on a validation split carved from train the same way."""

    name = "EASE"

    def __init__(self, lam: float = 500.0, lams: tuple[float, ...] = ()) -> None:
        self.lams = lams or (lam,)
        self.params: dict[str, object] = {"lambda": self.lams[0]}
        self._b = np.zeros((0, 0), np.float32)
        self._seen = sp.csr_matrix((0, 0))

    def fit(self, split: Split) -> None:
        if len(self.lams) > 1:
            val = validation(split)
            if len(val.test_user):
                scores = {}
                for lam in self.lams:
                    one = Ease(lam)
                    scores[lam] = run(one, val, check=False).metrics.ndcg
                self.params = {"lambda": max(scores, key=scores.__getitem__)}
        self._seen = split.seen()
        self._b = ease_weights(self._seen, float(self.params["lambda"]))  # type: ignore[arg-type]

    def recommend(self, users: I64, depth: int) -> I64:
        out = []
        for b in in_blocks(users, self._b.shape[0]):
            x = self._seen[b]
            scores = np.asarray(x @ self._b)
            # An item nobody had in train has an all-zero column: never recommend it.
            scores[:, np.asarray(self._seen.sum(axis=0)).ravel() == 0] = -np.inf
            out.append(top_excluding(scores, x, depth))
        return np.vstack(out) if out else np.zeros((0, depth), np.int64)
