"""Unauthenticated routes: health, readiness, metrics, the API description."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from endcap import __version__
from endcap.api.http import JSON, AppState, error_body
from endcap.store.protocol import Credential

_DOCS = """<!doctype html>
<html><head><meta charset="utf-8"><title>endcap API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head><body><div id="ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
<noscript>The API description is at <a href="/openapi.json">/openapi.json</a>.</noscript>
</body></html>"""


async def tenant_status(state: AppState, request: Request, cred: Credential) -> Response:
    """What endcap holds for the tenant and which model it serves: the first thing to
    check after a catalog sync or a training run."""
    tenant = cred.tenant_id
    store = state.store
    model = await state.models.ensure(tenant)
    return JSON({
        "tenant": tenant,
        "items": await store.count_items(tenant),
        "events": await store.count_events(tenant),
        "pods": len(await store.list_pods(tenant)),
        "model": None if model is None else {
            "version": model.version,
            "trained_at": model.trained_at,
            "items": len(model.item_ids),
            "stats": model.stats,
        },
    })


def system_routes(state: AppState, spec: dict[str, Any]) -> dict[str, Any]:
    """Endpoint functions by path."""

    async def healthz(request: Request) -> Response:
        return JSON({"status": "ok", "version": __version__})

    reached = False  # has this process ever reached its store?

    async def readyz(request: Request) -> Response:
        """503 while the process loads its models, while it drains (after SIGTERM) and
        until the store has answered once. Later, a store outage leaves the process
        ready but ``degraded``: it serves recommendations from its caches, and taking
        every replica out of the load balancer at once would serve nothing."""
        nonlocal reached
        if state.draining:
            return JSON(error_body("draining", "shutting down: finishing requests in "
                                   "flight"), 503)
        if not state.ready:
            return JSON(error_body("starting", "loading models"), 503)
        try:
            await state.store.ping()
        except Exception as e:
            if reached:
                return JSON({"status": "degraded", "store": f"unreachable: {e}"})
            return JSON(error_body("unavailable", f"store unreachable: {e}"), 503)
        reached = True
        return JSON({"status": "ready"})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(state.metrics.registry),
                        media_type=CONTENT_TYPE_LATEST)

    body = JSON(spec).body

    async def openapi(request: Request) -> Response:
        return Response(body, media_type="application/json")

    async def docs(request: Request) -> Response:
        return HTMLResponse(_DOCS)

    return {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics,
            "/openapi.json": openapi, "/docs": docs}
