"""``/v1/items``: bulk upsert (JSON array or NDJSON), get, patch, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from endcap.api.http import JSON, AppState, read_body
from endcap.catalog.ingest import parse_items, parse_patch
from endcap.errors import NotFound
from endcap.store.protocol import Credential


async def put_items(state: AppState, request: Request, cred: Credential) -> Response:
    body = await read_body(request, state.settings.max_body_bytes)
    ctype = request.headers.get("content-type", "")
    ndjson = "ndjson" in ctype or "jsonl" in ctype
    items = parse_items(body, ndjson=ndjson)
    await state.store.upsert_items(cred.tenant_id, items)
    state.metrics.items.inc(len(items))
    return JSON({"upserted": len(items)})


def _item_id(request: Request) -> str:
    return str(request.path_params["item_id"])


async def get_item(state: AppState, request: Request, cred: Credential) -> Response:
    (item,) = await state.store.get_items(cred.tenant_id, [_item_id(request)])
    if item is None:
        raise NotFound(f"unknown item {_item_id(request)!r}", field="item_id")
    return JSON(item)


async def patch_item(state: AppState, request: Request, cred: Credential) -> Response:
    patch = parse_patch(await read_body(request, state.settings.max_body_bytes))
    item = await state.store.patch_item(cred.tenant_id, _item_id(request), patch)
    if item is None:
        raise NotFound(f"unknown item {_item_id(request)!r}", field="item_id")
    return JSON(item)


async def delete_item(state: AppState, request: Request, cred: Credential) -> Response:
    if not await state.store.delete_item(cred.tenant_id, _item_id(request)):
        raise NotFound(f"unknown item {_item_id(request)!r}", field="item_id")
    return Response(status_code=204)
