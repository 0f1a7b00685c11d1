"""RemoteProvider against a real HTTP server on loopback that answers from a script."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from endcap.semantic.provider import SemanticUnavailable, normalised
from endcap.semantic.remote import RemoteEmbeddingError, RemoteProvider


def fake_vector(text: str) -> list[float]:
    return [float(len(text)), float(sum(map(ord, text)) % 101), 1.0]


def expected(texts: list[str]) -> np.ndarray[Any, Any]:
    return normalised([fake_vector(t or " ") for t in texts])


@dataclass
class Reply:
    """One scripted answer; ``status`` 200 with no ``body`` embeds the input."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: Any
    at: float


class FakeEmbeddings:
    """An OpenAI-style embeddings server: answers each POST with the next scripted
    ``Reply`` (then with embeddings, rows sent in reverse order with their index)."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.seen: list[Seen] = []
        self.stop = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = json.loads(raw)
                fake.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()},
                                      body, time.monotonic()))
                reply = fake.script.pop(0) if fake.script else Reply()
                if reply.delay and fake.stop.wait(reply.delay):
                    return
                payload = reply.body
                if payload is None and reply.status == 200:
                    data = [{"object": "embedding", "index": i, "embedding": fake_vector(t)}
                            for i, t in enumerate(body["input"])]
                    payload = {"object": "list", "data": data[::-1],
                               "model": body.get("model", "")}
                raw_out = (payload if isinstance(payload, bytes)
                           else json.dumps(payload).encode())
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw_out)))
                    self.end_headers()
                    self.wfile.write(raw_out)
                except OSError:
                    pass  # the client gave up (a time-out test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()

    def provider(self, **kw: Any) -> RemoteProvider:
        kw.setdefault("backoff", 0.01)
        kw.setdefault("timeout", 2.0)
        return RemoteProvider(self.base, **kw)


@pytest.fixture
def fake() -> Iterator[FakeEmbeddings]:
    server = FakeEmbeddings()
    try:
        yield server
    finally:
        server.close()


def test_batches_split_and_rows_follow_index(fake: FakeEmbeddings) -> None:
    texts = [f"text number {i}" * (i + 1) for i in range(7)]
    p = fake.provider(batch_size=3, model="mini")
    out = p.embed(texts)
    assert out.dtype == np.float32 and out.shape == (7, 3)
    np.testing.assert_allclose(out, expected(texts), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    assert [s.body["input"] for s in fake.seen] == [texts[0:3], texts[3:6], texts[6:7]]
    assert all(s.path == "/v1/embeddings" and s.body["model"] == "mini" for s in fake.seen)
    assert p.dim == 3 and len(fake.seen) == 3  # known from the embed: no probe


def test_rows_ordered_by_index_not_position(fake: FakeEmbeddings) -> None:
    fake.script = [Reply(body={"data": [{"index": 1, "embedding": [0.0, 2.0]},
                                        {"index": 0, "embedding": [3.0, 0.0]}]})]
    out = fake.provider().embed(["a", "b"])
    np.testing.assert_allclose(out, [[1.0, 0.0], [0.0, 1.0]])


def test_url_may_name_the_endpoint_and_empty_text_becomes_a_space(
        fake: FakeEmbeddings) -> None:
    p = RemoteProvider(fake.base + "/embeddings/", backoff=0.01)
    out = p.embed(["", "x"])
    assert fake.seen[0].path == "/v1/embeddings"
    assert fake.seen[0].body == {"input": [" ", "x"]}  # no model set: none sent
    np.testing.assert_allclose(out, expected(["", "x"]), rtol=1e-6)


def test_dim_probes_once_and_is_cached(fake: FakeEmbeddings) -> None:
    p = fake.provider()
    assert p.dim == 3
    assert p.dim == 3
    assert len(fake.seen) == 1 and len(fake.seen[0].body["input"]) == 1
    assert p.embed([]).shape == (0, 3)
    assert len(fake.seen) == 1


def test_retries_503_then_succeeds(fake: FakeEmbeddings) -> None:
    fake.script = [Reply(503, {"detail": "loading"}), Reply(502, b"bad gateway")]
    out = fake.provider(retries=3).embed(["hello"])
    np.testing.assert_allclose(out, expected(["hello"]), rtol=1e-6)
    assert len(fake.seen) == 3


def test_retry_after_is_honoured(fake: FakeEmbeddings) -> None:
    fake.script = [Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"})]
    fake.provider(retries=1, backoff=0.0).embed(["hello"])
    assert len(fake.seen) == 2
    assert 0.9 <= fake.seen[1].at - fake.seen[0].at < 1.8


def test_retry_after_is_capped(fake: FakeEmbeddings) -> None:
    fake.script = [Reply(503, {}, {"Retry-After": "3600"})]
    fake.provider(retries=1, max_retry_after=0.2).embed(["hello"])
    assert 0.15 <= fake.seen[1].at - fake.seen[0].at < 1.0


def test_5xx_after_all_retries_is_unavailable(fake: FakeEmbeddings) -> None:
    fake.script = [Reply(500, {"error": "CUDA out of memory"})] * 3
    with pytest.raises(SemanticUnavailable, match=r"3 attempt.*HTTP 500.*CUDA out of memory"):
        fake.provider(retries=2).embed(["hello"])
    assert len(fake.seen) == 3


def test_4xx_is_not_retried_and_says_why(fake: FakeEmbeddings) -> None:
    fake.script = [Reply(400, {"error": {"message": "model 'nope' not found",
                                         "type": "invalid_request_error"}})]
    with pytest.raises(RemoteEmbeddingError, match=r"HTTP 400: model 'nope' not found") as e:
        fake.provider(model="nope", retries=3).embed(["hello"])
    assert e.value.status == 400
    assert isinstance(e.value, SemanticUnavailable)
    assert len(fake.seen) == 1


def test_plain_text_error_is_surfaced(fake: FakeEmbeddings) -> None:
    fake.script = [Reply(422, b"input must not be empty")]
    with pytest.raises(RemoteEmbeddingError, match="HTTP 422: input must not be empty"):
        fake.provider().embed(["hello"])


def test_timeout_gives_semantic_unavailable_after_retries(fake: FakeEmbeddings) -> None:
    fake.script = [Reply(delay=5.0)] * 3
    start = time.monotonic()
    with pytest.raises(SemanticUnavailable, match=r"could not be reached after 3 attempt"):
        fake.provider(timeout=0.2, retries=2).embed(["hello"])
    assert len(fake.seen) == 3
    assert time.monotonic() - start < 2.0  # the 5 s replies were not waited for


def test_unreachable_endpoint_is_unavailable() -> None:
    server = FakeEmbeddings()
    base = server.base
    server.close()  # nothing listens on that port now
    p = RemoteProvider(base, retries=2, backoff=0.01, timeout=1.0)
    with pytest.raises(SemanticUnavailable, match=r"could not be reached.*ConnectError"):
        p.embed(["hello"])


def test_bearer_token_sent_only_when_set(fake: FakeEmbeddings) -> None:
    fake.provider(api_key="s3cret").embed(["a"])
    fake.provider().embed(["a"])
    assert fake.seen[0].headers["authorization"] == "Bearer s3cret"
    assert "authorization" not in fake.seen[1].headers


def test_malformed_reply_is_an_error(fake: FakeEmbeddings) -> None:
    fake.script = [Reply(body={"data": [{"index": 0, "embedding": [1.0]}]})]
    with pytest.raises(RemoteEmbeddingError, match="expected 2 embeddings"):
        fake.provider().embed(["a", "b"])
    fake.script = [Reply(body=b"<html>proxy</html>")]
    with pytest.raises(RemoteEmbeddingError, match="unexpected reply"):
        fake.provider().embed(["a"])


def test_name_distinguishes_models(fake: FakeEmbeddings) -> None:
    assert fake.provider(model="m1").name == "remote/m1"
    assert fake.provider().name == "remote/" + fake.base + "/embeddings"
