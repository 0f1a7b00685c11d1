"""The gRPC servicers: the HTTP API's own code paths behind protobuf messages.

A request is turned into what the HTTP route would have read (query pairs, a JSON
batch of events), handed to the same function (:func:`endcap.api.recommend.answer`,
:func:`endcap.api.events.record`), and the answer turned back into a message. So
validation, its messages, idempotency, durability and the metrics are the HTTP API's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import grpc
import msgspec

from endcap.api.events import all_rejected, record
from endcap.api.http import AppState, check_authorization
from endcap.api.recommend import answer
from endcap.errors import EndcapError, Invalid
from endcap.events.ingest import IngestResult
from endcap.grpc.gen import events_pb2 as epb
from endcap.grpc.gen import events_pb2_grpc, recommendations_pb2_grpc
from endcap.grpc.gen import recommendations_pb2 as rpb
from endcap.obs.context import HEADER as REQUEST_ID_HEADER
from endcap.obs.context import choose_request_id, request_id
from endcap.store.protocol import Credential

log = logging.getLogger("endcap.grpc")
T = TypeVar("T")
Context = grpc.aio.ServicerContext[Any, Any]

#: The gRPC code of each HTTP status an :class:`EndcapError` carries.
CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}
#: Trailing metadata of an error: the HTTP API's error code and the field to fix.
ERROR_CODE_KEY = "endcap-error-code"
FIELD_KEY = "endcap-field"
#: Trailing metadata of a batch whose every event was rejected: its SendEventsResponse.
EVENTS_RESULT_KEY = "endcap-events-result-bin"


class Recommendations(recommendations_pb2_grpc.RecommendationsServiceServicer):
    """``endcap.v1.RecommendationsService``."""

    def __init__(self, state: AppState) -> None:
        self._call = Caller(state, "grpc_recommendations")
        self._state = state

    async def GetRecommendations(self, request: rpb.GetRecommendationsRequest,
                                 context: Context) -> rpb.GetRecommendationsResponse:
        async def run(cred: Credential) -> rpb.GetRecommendationsResponse:
            body = await answer(self._state, cred.tenant_id, request.pod_id,
                                request_pairs(request))
            return recommendations_message(body)

        return await self._call(context, run)


class Events(events_pb2_grpc.EventsServiceServicer):
    """``endcap.v1.EventsService``."""

    def __init__(self, state: AppState) -> None:
        self._call = Caller(state, "grpc_events")
        self._state = state

    async def SendEvents(self, request: epb.SendEventsRequest, context: Context
                         ) -> epb.SendEventsResponse:
        async def run(cred: Credential) -> epb.SendEventsResponse:
            body = _encode([event_dict(e) for e in request.events])
            result = await record(self._state, cred.tenant_id, body)
            message = events_message(result)
            if all_rejected(result):
                raise BatchRejected(result, message)
            return message

        return await self._call(context, run)


class BatchRejected(Invalid):
    """Every event of the batch was rejected: the HTTP API's 422."""

    def __init__(self, result: IngestResult, message: epb.SendEventsResponse) -> None:
        first = result.errors[0]
        where = f" ({first.field})" if first.field else ""
        more = f"; {result.rejected - 1} more rejected" if result.rejected > 1 else ""
        super().__init__(f"no event accepted: event {first.index}{where}: "
                         f"{first.reason}{more}", field=first.field)
        self.message_pb = message


class Caller:
    """What every RPC shares with the HTTP routes' wrapper: the request id, the key in
    the ``authorization`` metadata, errors as status codes, the request metrics (route
    ``grpc_*``, method ``GRPC``, the HTTP status the outcome would have had)."""

    def __init__(self, state: AppState, route: str) -> None:
        self._state = state
        self._route = route
        self._latency = state.metrics.latency.labels(route)

    async def __call__(self, context: Context,
                       run: Callable[[Credential], Awaitable[T]]) -> T:
        start = time.perf_counter()
        metadata = dict(context.invocation_metadata() or ())
        rid = choose_request_id(_text(metadata.get(REQUEST_ID_HEADER)))
        token = request_id.set(rid)
        status = 500
        try:
            with self._span(rid) as set_status:
                try:
                    header = _text(metadata.get("authorization")) or ""
                    cred = await check_authorization(self._state, header, "public")
                    result = await run(cred)
                    status = 200
                    set_status(status)
                    # in the trailers: sending initial metadata of its own costs an
                    # extra write per call (a sixth of the server's time per request)
                    context.set_trailing_metadata(((REQUEST_ID_HEADER, rid),))
                    return result
                except EndcapError as e:
                    status = e.status
                    set_status(status)
                    await context.abort(CODES.get(e.status, grpc.StatusCode.UNKNOWN),
                                        e.message, ((REQUEST_ID_HEADER, rid), *_trailers(e)))
                except Exception:
                    log.exception("unhandled error on gRPC %s", self._route)
                    await context.abort(grpc.StatusCode.INTERNAL, "internal error",
                                        ((REQUEST_ID_HEADER, rid),))
        except asyncio.CancelledError:
            status = 499  # the client cancelled, or its deadline passed: not a 5xx
            raise
        finally:
            request_id.reset(token)
            self._latency.observe(time.perf_counter() - start)
            self._state.metrics.request(self._route, "GRPC", status).inc()

    @contextlib.contextmanager
    def _span(self, rid: str) -> Iterator[Callable[[int], None]]:
        """A tracing span around the call when tracing is on; yields a status setter."""
        tracing = self._state.tracing
        if tracing is None:
            yield lambda status: None
            return
        with tracing.span(f"gRPC {self._route}", {"rpc.system": "grpc",
                                                  "endcap.request_id": rid}) as span:
            yield lambda status: span.set_attribute("http.response.status_code", status)


def request_pairs(request: rpb.GetRecommendationsRequest) -> list[tuple[str, str]]:
    """The request as the HTTP query string's parameters (the same parser reads both)."""
    pairs = [("item_id", i) for i in request.item_ids]
    pairs += [("exclude", i) for i in request.exclude]
    for name in ("user_id", "session_id", "query"):
        if request.HasField(name):
            pairs.append((name, getattr(request, name)))
    if request.HasField("num_results"):
        pairs.append(("num_results", str(request.num_results)))
    pairs += [(f"filters[{k}]", v) for k, v in sorted(request.filters.items())]
    return pairs


def recommendations_message(body: dict[str, Any]) -> rpb.GetRecommendationsResponse:
    """The HTTP response body as a message."""
    pod = body["pod"]
    strategy = pod["strategy"]
    message = rpb.GetRecommendationsResponse(
        pod=rpb.PodSummary(id=pod["id"], display_name=pod["display_name"],
                           strategy=[strategy] if isinstance(strategy, str) else strategy),
        result_id=body["result_id"], variant=body["variant"],
        model_version=body["model_version"], total=body["total"], degraded=body["degraded"])
    add = message.results.add  # half the cost of building a list of messages
    for result in body["results"]:
        add(**result)
    return message


#: EVENT_TYPE_ADD_TO_CART -> "add_to_cart", and so on.
_EVENT_TYPES = {number: name.removeprefix("EVENT_TYPE_").lower()
                for name, number in epb.EventType.items() if number}
_encode = msgspec.json.Encoder().encode


def event_dict(event: epb.Event) -> dict[str, Any]:
    """The event as the HTTP API's JSON object: unset fields left out, so the same
    validation judges it (an unknown type number arrives as its text, and is refused)."""
    out: dict[str, Any] = {"event_id": event.event_id}
    if event.type:
        out["type"] = _EVENT_TYPES.get(event.type, str(event.type))
    for name in ("user_id", "session_id", "item_id", "query", "revenue", "pod_id",
                 "result_id", "variant"):
        if event.HasField(name):
            out[name] = getattr(event, name)
    if event.items:
        out["items"] = [_line(line) for line in event.items]
    if event.HasField("timestamp"):
        out["timestamp"] = event.timestamp.seconds + event.timestamp.nanos / 1e9
    return out


def _line(line: epb.Line) -> dict[str, Any]:
    out: dict[str, Any] = {"id": line.id}
    if line.HasField("quantity"):
        out["quantity"] = line.quantity
    if line.HasField("price"):
        out["price"] = line.price
    return out


def events_message(result: IngestResult) -> epb.SendEventsResponse:
    return epb.SendEventsResponse(
        accepted=result.accepted, duplicated=result.duplicated, rejected=result.rejected,
        errors=[epb.Rejection(index=r.index, reason=r.reason, field=r.field,
                              event_id=r.event_id) for r in result.errors])


def _trailers(err: EndcapError) -> tuple[tuple[str, str | bytes], ...]:
    out: list[tuple[str, str | bytes]] = [(ERROR_CODE_KEY, err.code)]
    field = err.details.get("field")
    if isinstance(field, str) and field.isascii() and field.isprintable():
        out.append((FIELD_KEY, field))
    if isinstance(err, BatchRejected):
        out.append((EVENTS_RESULT_KEY, err.message_pb.SerializeToString()))
    return tuple(out)


def _text(value: str | bytes | None) -> str | None:
    return value.decode("latin-1") if isinstance(value, bytes) else value
