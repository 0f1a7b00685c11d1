"""The app factory: everything the api role needs is built here, not at import."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from endcap.api import catalog, events, experiments, pods, recommend
from endcap.api.http import JSON, AppState, Handler, endpoint, error_body
from endcap.api.model_cache import ModelCache
from endcap.api.openapi import build_openapi
from endcap.api.semantic import SemanticLayer
from endcap.api.system import system_routes, tenant_status
from endcap.obs.metrics import ApiMetrics, CacheCollector
from endcap.obs.store import instrumented
from endcap.obs.tracing import Tracing
from endcap.semantic.provider import EmbeddingProvider
from endcap.settings import ServeSettings
from endcap.store.local_cache import LocalCache
from endcap.store.protocol import KeyKind, Store


def create_app(settings: ServeSettings, store: Store, *, poll_models: bool = True,
               embedder: EmbeddingProvider | None = None,
               tracing: Tracing | None = None) -> HotPath:
    """An ASGI app serving the v1 API over ``store``. The caller owns the store (and
    ``tracing``). The app is ready once its lifespan has started: the serve command
    loads the models before that."""
    metrics = ApiMetrics()
    store = instrumented(store, metrics.store_latency, metrics.store_errors, tracing)
    state = AppState(settings, store, ModelCache(store, settings.model_poll_seconds),
                     metrics, SemanticLayer(settings, store, embedder), tracing)
    cache = getattr(store, "cache", None)
    if isinstance(cache, LocalCache):
        state.metrics.registry.register(CacheCollector(cache))

    def r(path: str, method: str, route: str, need: KeyKind, fn: Handler) -> Route:
        return Route(path, endpoint(state, route, need, fn), methods=[method])

    hot = r("/v1/pods/{pod_id}/recommendations", "GET", "recommendations", "public",
            recommend.recommendations)
    routes = [
        hot,
        r("/v1/events", "POST", "events", "public", events.post_events),
        r("/v1/items", "PUT", "items_upsert", "secret", catalog.put_items),
        r("/v1/items/{item_id:path}", "GET", "item_get", "secret", catalog.get_item),
        r("/v1/items/{item_id:path}", "PATCH", "item_patch", "secret", catalog.patch_item),
        r("/v1/items/{item_id:path}", "DELETE", "item_delete", "secret", catalog.delete_item),
        r("/v1/pods", "GET", "pods_list", "secret", pods.list_pods),
        r("/v1/pods/{pod_id}", "GET", "pod_get", "secret", pods.get_pod),
        r("/v1/pods/{pod_id}", "PUT", "pod_put", "secret", pods.put_pod),
        r("/v1/pods/{pod_id}", "DELETE", "pod_delete", "secret", pods.delete_pod),
        r("/v1/status", "GET", "status", "secret", tenant_status),
        r("/v1/experiments", "GET", "experiments_list", "secret",
          experiments.list_experiments),
        r("/v1/experiments/{experiment_id}", "GET", "experiment_get", "secret",
          experiments.get_experiment),
        r("/v1/experiments/{experiment_id}", "PUT", "experiment_put", "secret",
          experiments.put_experiment),
        r("/v1/experiments/{experiment_id}", "DELETE", "experiment_delete", "secret",
          experiments.delete_experiment),
        r("/v1/experiments/{experiment_id}/start", "POST", "experiment_start", "secret",
          experiments.start_experiment),
        r("/v1/experiments/{experiment_id}/stop", "POST", "experiment_stop", "secret",
          experiments.stop_experiment),
        r("/v1/experiments/{experiment_id}/report", "GET", "experiment_report", "secret",
          experiments.report),
    ]
    routes += [Route(p, fn, methods=["GET"])
               for p, fn in system_routes(state, build_openapi()).items()]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        headers = exc.headers if isinstance(exc, HTTPException) else None
        return JSON(error_body(code, f"{detail}: {request.method} {request.url.path}"), status,
                    headers=headers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pollers = [asyncio.create_task(state.models.run()),
                   asyncio.create_task(state.semantic.embeddings.run())] if poll_models else []
        state.ready = True
        state.metrics.ready.set(1)
        try:
            yield
        finally:
            state.ready = False
            state.metrics.ready.set(0)
            for poller in pollers:
                poller.cancel()

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error},
                    lifespan=lifespan)
    app.state.endcap = state
    hot_path = HotPath(app, hot.endpoint)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:  # storefront pages calling endcap from the shopper's browser
        hot_path.cors = CORSMiddleware(hot_path.route, allow_origins=origins,
                                       allow_methods=["GET", "POST"],
                                       allow_headers=["Authorization", "Content-Type"],
                                       max_age=3600)
    return hot_path


def start_draining(app: HotPath) -> None:
    """Turn readiness false (SIGTERM): the load balancer stops sending traffic while
    requests in flight finish. Safe to call from a signal handler."""
    state: AppState = app.state.endcap
    state.draining = True
    state.metrics.ready.set(0)


class HotPath:
    """Serves ``GET /v1/pods/{pod_id}/recommendations`` straight to its endpoint, and
    everything else through Starlette. The recommendations route is the hot path, and
    Starlette's middleware and routing layers cost a tenth of it; its endpoint already
    turns every error into a JSON response, so nothing is lost by skipping them."""

    def __init__(self, app: Starlette, endpoint: Callable[[Request], Awaitable[Response]]
                 ) -> None:
        self.app = app
        self.state = app.state
        self._endpoint = endpoint
        #: Set when CORS is on: it wraps :meth:`route` and answers preflights.
        self.cors: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.cors is not None:
            await self.cors(scope, receive, send)
        else:
            await self.route(scope, receive, send)

    async def route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(_PODS) and path.endswith(_RECS):
                pod_id = path[len(_PODS):-len(_RECS)]
                if pod_id and "/" not in pod_id:
                    scope["path_params"] = {"pod_id": pod_id}
                    response = await self._endpoint(Request(scope, receive))
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


_PODS = "/v1/pods/"
_RECS = "/recommendations"
