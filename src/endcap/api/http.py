"""The glue every route shares: JSON responses, errors, bodies, auth, metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from endcap.api.model_cache import ModelCache
from endcap.api.semantic import SemanticLayer
from endcap.errors import EndcapError, Forbidden, TooLarge, Unauthorized, Unavailable
from endcap.obs.context import HEADER as REQUEST_ID_HEADER
from endcap.obs.context import choose_request_id, request_id
from endcap.obs.metrics import ApiMetrics
from endcap.obs.tracing import Tracing
from endcap.settings import ServeSettings
from endcap.store.protocol import Credential, KeyKind, Store

log = logging.getLogger("endcap.api")
_encode = msgspec.json.Encoder().encode


@dataclass(slots=True)
class AppState:
    """What the routes are given: built once by the app factory."""

    settings: ServeSettings
    store: Store
    models: ModelCache
    metrics: ApiMetrics
    semantic: SemanticLayer
    tracing: Tracing | None = None
    #: False until the process has loaded what it serves, and again once it drains.
    ready: bool = False
    draining: bool = False


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encode(content)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(err: EndcapError) -> Response:
    headers = None
    if err.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(err, Unavailable):
        headers = {"Retry-After": str(err.retry_after)}
    return JSON(error_body(err.code, err.message, err.details), err.status, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"body of {declared} bytes exceeds the limit of {limit}", field="body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body exceeds the limit of {limit} bytes", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


async def authenticate(state: AppState, request: Request, need: KeyKind) -> Credential:
    """The caller's credential; 401 without a valid key, 403 with a public key where the
    secret token is needed."""
    return await check_authorization(state, request.headers.get("authorization", ""), need)


async def check_authorization(state: AppState, header: str, need: KeyKind) -> Credential:
    """:func:`authenticate` for an ``Authorization`` value (HTTP header, gRPC metadata)."""
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("send 'Authorization: Bearer <key>' with the tenant's "
                           f"{'secret token' if need == 'secret' else 'public key'}",
                           field="Authorization")
    cred = await state.store.resolve_key(key.strip())
    if cred is None:
        raise Unauthorized("unknown key", field="Authorization")
    if need == "secret" and cred.kind != "secret":
        raise Forbidden("this endpoint needs the tenant's secret token, not its public key",
                        field="Authorization")
    return cred


Handler = Callable[[AppState, Request, Credential], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def endpoint(state: AppState, route: str, need: KeyKind, fn: Handler) -> Endpoint:
    """Wrap a route: give it a request id (header and logs), authenticate, turn
    :class:`EndcapError` into JSON, count, time and trace it."""
    metrics = state.metrics
    latency = metrics.latency.labels(route)
    inflight = metrics.inflight
    tracing = state.tracing
    access = log.info if state.settings.access_log else None

    async def serve(request: Request) -> Response:
        try:
            cred = await authenticate(state, request, need)
            return await fn(state, request, cred)
        except EndcapError as e:
            return error_response(e)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, route)
            return JSON(error_body("internal", "internal error"), 500)

    async def handle(request: Request) -> Response:
        start = time.perf_counter()
        rid = choose_request_id(request.headers.get(REQUEST_ID_HEADER))
        token = request_id.set(rid)
        inflight.inc()
        try:
            if tracing is None:
                response = await serve(request)
            else:
                with tracing.span(f"{request.method} {route}",
                                  {"http.route": route, "http.request.method": request.method,
                                   "endcap.request_id": rid}) as span:
                    response = await serve(request)
                    span.set_attribute("http.response.status_code", response.status_code)
        finally:
            inflight.dec()
            request_id.reset(token)
        response.headers[REQUEST_ID_HEADER] = rid
        elapsed = time.perf_counter() - start
        latency.observe(elapsed)
        metrics.request(route, request.method, response.status_code).inc()
        if access is not None:
            access("%s %s %d %.2f ms", request.method, route, response.status_code,
                   elapsed * 1000, extra={"request_id": rid, "route": route,
                                          "method": request.method,
                                          "status": response.status_code,
                                          "duration_ms": round(elapsed * 1000, 3)})
        return response

    return handle
