"""``POST /v1/events``: one event or a batch, idempotent by ``event_id``."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from endcap.api.http import JSON, AppState, read_body
from endcap.events.ingest import IngestResult, decode_events, ingest
from endcap.store.protocol import Credential

#: 1,000 events of a few hundred bytes each fit comfortably.
MAX_EVENTS_BODY = 4 * 1024 * 1024


async def post_events(state: AppState, request: Request, cred: Credential) -> Response:
    body = await read_body(request, min(MAX_EVENTS_BODY, state.settings.max_body_bytes))
    result = await record(state, cred.tenant_id, body)
    return JSON(result, 422 if all_rejected(result) else 202)


async def record(state: AppState, tenant: str, body: bytes) -> IngestResult:
    """Validate, log durably and apply the events of ``body`` (one JSON event or a list),
    counted in the events metrics; HTTP and gRPC share it. Raises :class:`EndcapError`
    for a body that is not a batch of events at all."""
    good, bad = decode_events(body, time.time())
    result = await ingest(state.store, tenant, good, bad)
    m = state.metrics.events
    m.labels("accepted").inc(result.accepted)
    m.labels("duplicated").inc(result.duplicated)
    m.labels("rejected").inc(result.rejected)
    return result


def all_rejected(result: IngestResult) -> bool:
    """Nothing in the batch was taken: an error (422) rather than a partial success."""
    return bool(result.rejected) and not (result.accepted or result.duplicated)
