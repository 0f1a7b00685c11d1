"""``POST /v1/events``: one event or a batch, idempotent by ``event_id``."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from endcap.api.http import JSON, AppState, read_body
from endcap.events.ingest import decode_events, ingest
from endcap.store.protocol import Credential

#: 1,000 events of a few hundred bytes each fit comfortably.
MAX_EVENTS_BODY = 4 * 1024 * 1024


async def post_events(state: AppState, request: Request, cred: Credential) -> Response:
    body = await read_body(request, min(MAX_EVENTS_BODY, state.settings.max_body_bytes))
    good, bad = decode_events(body, time.time())
    result = await ingest(state.store, cred.tenant_id, good, bad)
    status = 422 if result.rejected and not (result.accepted or result.duplicated) else 202
    m = state.metrics.events
    m.labels("accepted").inc(result.accepted)
    m.labels("duplicated").inc(result.duplicated)
    m.labels("rejected").inc(result.rejected)
    return JSON(result, status)
