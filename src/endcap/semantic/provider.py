"""The embedding provider contract and how one is chosen from settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class SemanticUnavailable(RuntimeError):
    """No embedding provider can run here; the message says what to install or set."""


class EmbeddingProvider(Protocol):
    #: Names the model, so that vectors of different models are never mixed.
    name: str

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One L2-normalised float32 row per text, in order. Blocking; callers on an
        event loop run it in a thread."""
        ...


def normalised(vectors: npt.ArrayLike) -> Vectors:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return np.ascontiguousarray(v / norms, dtype=np.float32)
