"""Content-based recommendations from item vectors: what a shopper's items are like."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from endcap.semantic.artifact import ItemEmbeddings
from endcap.semantic.provider import Vectors

#: The k-th most recent item weighs this to the power k in a shopper's profile.
PROFILE_DECAY = 0.8


def profile(emb: ItemEmbeddings, items: Sequence[str], weights: Sequence[float] | None = None
            ) -> Vectors | None:
    """The unit-length weighted mean of the vectors of ``items`` (newest first; default
    weights ``PROFILE_DECAY ** k``), or None when none of them has a vector."""
    rows = [(k, r) for k, i in enumerate(items) if (r := emb.row.get(i)) is not None]
    if not rows:
        return None
    w = np.asarray([weights[k] if weights is not None else PROFILE_DECAY ** k
                    for k, _ in rows], np.float32)
    v = emb.index.vectors([r for _, r in rows])
    mean = (w[:, None] * v).sum(axis=0)
    norm = float(np.linalg.norm(mean))
    return None if norm == 0 else (mean / norm).astype(np.float32)
