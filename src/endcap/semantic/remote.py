"""The remote provider: any OpenAI-compatible ``POST …/embeddings`` endpoint.

Texts go ``batch_size`` at a time as ``{"model": ..., "input": [...]}``; rows come back
ordered by their ``index``. Connection errors, time-outs, 408, 429 and 5xx are retried
with exponential back-off and jitter (a ``Retry-After`` is honoured, up to a cap); any
other 4xx fails at once with the server's own message.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import numpy as np

from endcap.semantic.provider import SemanticUnavailable, Vectors, normalised

log = logging.getLogger("endcap.semantic")

#: Statuses worth another try: the server is busy, overloaded or briefly down.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_PROBE_TEXT = "dimension probe"


class RemoteEmbeddingError(SemanticUnavailable):
    """The endpoint answered, but not with embeddings: a rejected request (4xx), a
    server still failing after the retries, or a reply that is not an embeddings list.
    ``status`` is the HTTP status, when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RemoteProvider:
    """Embeddings from an OpenAI-compatible endpoint. ``url`` is its base (``…/v1``) or
    the full ``…/v1/embeddings``; ``retries`` more attempts follow a failed one."""

    def __init__(self, url: str, *, model: str = "", api_key: str = "",
                 timeout: float = 10.0, retries: int = 3, batch_size: int = 64,
                 backoff: float = 0.5, max_backoff: float = 8.0,
                 max_retry_after: float = 30.0) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        base = url.rstrip("/")
        self.url = base if base.endswith("/embeddings") else base + "/embeddings"
        self.model = model
        self.name = "remote/" + (model or self.url)
        self.timeout = timeout
        self.retries = max(0, retries)
        self.batch_size = batch_size
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self._headers = {"Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._client: httpx.Client | None = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=httpx.Timeout(self.timeout),
                                            headers=self._headers)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self.embed([_PROBE_TEXT])
        assert self._dim is not None
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Some servers reject an empty string; a single space embeds as "nothing".
        inputs = [t if t else " " for t in texts]
        rows = [self._post(inputs[i:i + self.batch_size])
                for i in range(0, len(inputs), self.batch_size)]
        out = normalised(np.concatenate(rows))
        if self._dim is None:
            self._dim = int(out.shape[1])
        elif out.shape[1] != self._dim:
            raise RemoteEmbeddingError(f"{self.url} changed dimension from {self._dim} "
                                       f"to {out.shape[1]}")
        return out

    def _post(self, batch: list[str]) -> Vectors:
        body: dict[str, Any] = {"input": batch}
        if self.model:
            body["model"] = self.model
        attempts = self.retries + 1
        problem = ""
        for attempt in range(attempts):
            wait: float | None = None
            try:
                response = self._http().post(self.url, json=body)
            except _RETRY_ERRORS as e:
                problem = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            except httpx.HTTPError as e:
                raise RemoteEmbeddingError(f"embeddings request to {self.url} failed: "
                                           f"{type(e).__name__}: {e}") from e
            else:
                if response.is_success:
                    return self._parse(response, len(batch))
                status = response.status_code
                message = _server_message(response)
                if status not in RETRY_STATUSES:
                    raise RemoteEmbeddingError(f"embeddings endpoint {self.url} rejected the "
                                               f"request: HTTP {status}: {message}", status)
                problem = f"HTTP {status}: {message}"
                wait = _retry_after(response)
                if attempt == attempts - 1:
                    raise RemoteEmbeddingError(
                        f"embeddings endpoint {self.url} still failing after {attempts} "
                        f"attempt(s): {problem}", status)
            if attempt < attempts - 1:
                if wait is None:
                    delay = min(self.max_backoff, self.backoff * 2 ** attempt)
                    wait = delay / 2 + random.uniform(0, delay / 2)
                wait = min(max(wait, 0.0), self.max_retry_after)
                log.warning("embeddings endpoint %s: %s; retrying in %.2f s (%d/%d)",
                            self.url, problem, wait, attempt + 1, self.retries)
                time.sleep(wait)
        raise SemanticUnavailable(f"embeddings endpoint {self.url} could not be reached after "
                                  f"{attempts} attempt(s): {problem}")

    def _parse(self, response: httpx.Response, n: int) -> Vectors:
        try:
            data = response.json()["data"]
            pairs = sorted(((int(d.get("index", i)), d["embedding"])
                            for i, d in enumerate(data)), key=lambda p: p[0])
            if [i for i, _ in pairs] != list(range(n)):
                raise ValueError(f"expected {n} embeddings indexed 0..{n - 1}, "
                                 f"got indices {[i for i, _ in pairs][:10]}")
            rows = np.asarray([e for _, e in pairs], dtype=np.float32)
            if rows.ndim != 2 or rows.shape[1] == 0:
                raise ValueError(f"embeddings of shape {rows.shape}")
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise RemoteEmbeddingError(f"embeddings endpoint {self.url} sent an unexpected "
                                       f"reply: {e}", response.status_code) from e
        return rows


def _server_message(response: httpx.Response) -> str:
    """The error text a server put in its reply (OpenAI, FastAPI and TEI shapes)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            value = body.get(key)
            if isinstance(value, dict) and "message" in value:
                value = value["message"]
            if value:
                return str(value)[:500]
    return response.text.strip()[:500] or response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
