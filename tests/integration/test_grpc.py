"""The gRPC API through a real ``endcap serve --grpc-port`` process and a real gRPC
client (the generated stubs): the same answers, errors and state as over HTTP."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from endcap.grpc.gen import events_pb2 as epb
from endcap.grpc.gen import events_pb2_grpc, recommendations_pb2_grpc
from endcap.grpc.gen import recommendations_pb2 as rpb
from tests.conftest import Server, Tenant, clients, create_tenant, free_port, unique_prefix
from tests.redis_servers import RedisServer

ITEMS = [
    {"id": "mug", "name": "Mug", "price": 8.5, "categories": ["Kitchen/Mugs"], "brand": "Acme"},
    {"id": "teapot", "name": "Teapot", "price": 25.0, "categories": ["Kitchen/Teapots"]},
    {"id": "tea", "name": "Green tea", "price": 4.0, "categories": ["Food/Tea"]},
]
RECENT = {"strategy": ["recently_viewed", "bestsellers"], "num_results": 5}


@dataclass
class Api:
    server: Server
    tenant: Tenant
    http: httpx.Client  # public key
    channel: grpc.Channel
    recs: recommendations_pb2_grpc.RecommendationsServiceStub
    events: events_pb2_grpc.EventsServiceStub

    @property
    def auth(self) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {self.tenant.public_key}"),)


@contextlib.contextmanager
def serve_grpc(server: Server, tenant: Tenant, grpc_port: int) -> Iterator[Api]:
    """Clients of ``server``, its catalog and a pod loaded over HTTP."""
    pub, sec = clients(server.url, tenant, timeout=10)
    sec.put("/v1/items", json=ITEMS).raise_for_status()
    sec.put("/v1/pods/recent", json=RECENT).raise_for_status()
    sec.close()
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    try:
        yield Api(server, tenant, pub, channel,
                  recommendations_pb2_grpc.RecommendationsServiceStub(channel),
                  events_pb2_grpc.EventsServiceStub(channel))
    finally:
        channel.close()
        pub.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One server for the module: starting one costs seconds."""
    tmp = tmp_path_factory.mktemp("grpc")
    url = f"file://{tmp / 'store'}"
    shop = create_tenant(url, "shop")
    grpc_port = free_port()
    server = Server(url, tmp / "server.log", ENDCAP_GRPC_PORT=str(grpc_port),
                    ENDCAP_DRAIN_SECONDS="2").start()
    try:
        with serve_grpc(server, shop, grpc_port) as api:
            yield api
    finally:
        server.stop()


def view(event_id: str, item: str, session: str = "s1") -> epb.Event:
    return epb.Event(event_id=event_id, type=epb.EVENT_TYPE_VIEW, session_id=session,
                     item_id=item)


def rpc_error(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def test_health_and_reflection(api: Api) -> None:
    health = health_pb2_grpc.HealthStub(api.channel)
    for service in ("", "endcap.v1.RecommendationsService", "endcap.v1.EventsService"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, service
    reflect = reflection_pb2_grpc.ServerReflectionStub(api.channel)
    [reply] = reflect.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    names = {s.name for s in reply.list_services_response.service}
    assert {"endcap.v1.RecommendationsService", "endcap.v1.EventsService",
            "grpc.health.v1.Health"} <= names


def test_events_and_their_effect(api: Api) -> None:
    request = rpb.GetRecommendationsRequest(pod_id="recent", session_id="s1")
    before = api.recs.GetRecommendations(request, metadata=api.auth, timeout=5)
    assert before.pod.id == "recent" and list(before.pod.strategy) == RECENT["strategy"]
    assert all(r.strategy != "recently_viewed" for r in before.results)

    ts = Timestamp()
    ts.FromSeconds(1_700_000_000)
    batch = epb.SendEventsRequest(events=[
        view("e1", "teapot"),
        view("e2", "nope"),
        view("e1", "teapot"),
        epb.Event(event_id="e3", type=epb.EVENT_TYPE_PURCHASE, user_id="u1", timestamp=ts,
                  items=[epb.Line(id="mug", quantity=2, price=8.5)], revenue=17.0),
    ])
    reply = api.events.SendEvents(batch, metadata=api.auth, timeout=5)
    assert (reply.accepted, reply.duplicated, reply.rejected) == (2, 1, 1)
    [rejected] = reply.errors
    assert (rejected.index, rejected.field, rejected.event_id) == (1, "item_id", "e2")
    assert rejected.reason == "unknown item 'nope': add it to the catalog first"
    again = api.events.SendEvents(epb.SendEventsRequest(events=[view("e1", "teapot")]),
                                  metadata=api.auth, timeout=5)
    assert (again.accepted, again.duplicated, again.rejected) == (0, 1, 0)

    # The view is in the shopper's history at once, over gRPC and over HTTP alike.
    after, call = api.recs.GetRecommendations.with_call(
        request, metadata=(*api.auth, ("x-request-id", "trace-42")), timeout=5)
    assert ("x-request-id", "trace-42") in call.trailing_metadata()  # as the HTTP header
    assert [(r.id, r.strategy) for r in after.results][:1] == [("teapot", "recently_viewed")]
    http = api.http.get("/v1/pods/recent/recommendations", params={"session_id": "s1"}).json()
    assert [r["id"] for r in http["results"]] == [r.id for r in after.results]
    first, wire = http["results"][0], after.results[0]
    assert (wire.name, wire.price, wire.score, wire.reason) == (
        first["name"], first["price"], first["score"], first["reason"])
    assert after.total == http["total"] and not after.degraded and after.result_id
    # an event sent over HTTP is a duplicate over gRPC: one log, one idempotency key
    api.http.post("/v1/events", json={"event_id": "h1", "type": "view", "session_id": "s2",
                                      "item_id": "tea"}).raise_for_status()
    dup = api.events.SendEvents(epb.SendEventsRequest(events=[view("h1", "tea", "s2")]),
                                metadata=api.auth, timeout=5)
    assert dup.duplicated == 1


@pytest.mark.parametrize(("request_", "query"), [
    (rpb.GetRecommendationsRequest(pod_id="recent", num_results=0), {"num_results": "0"}),
    (rpb.GetRecommendationsRequest(pod_id="recent", filters={"colour": "red"}),
     {"filters[colour]": "red"}),
    (rpb.GetRecommendationsRequest(pod_id="recent", filters={"price_max": "cheap"}),
     {"filters[price_max]": "cheap"}),
    (rpb.GetRecommendationsRequest(pod_id="recent", user_id="x" * 300),
     {"user_id": "x" * 300}),
])
def test_bad_input_is_invalid_argument_with_the_http_message(
        api: Api, request_: rpb.GetRecommendationsRequest, query: dict[str, str]) -> None:
    err = rpc_error(lambda: api.recs.GetRecommendations(request_, metadata=api.auth,
                                                        timeout=5))
    http = api.http.get("/v1/pods/recent/recommendations", params=query)
    assert http.status_code == 400
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == http.json()["error"]["message"]
    trailers = dict(err.trailing_metadata())
    assert trailers["endcap-field"] == http.json()["error"]["details"]["field"]


def test_errors(api: Api) -> None:
    recs = api.recs.GetRecommendations
    err = rpc_error(lambda: recs(rpb.GetRecommendationsRequest(pod_id="recent"), timeout=5))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "authorization: bearer" in err.details().lower()
    err = rpc_error(lambda: recs(rpb.GetRecommendationsRequest(pod_id="recent"), timeout=5,
                                 metadata=(("authorization", "Bearer nope"),)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED and err.details() == "unknown key"
    err = rpc_error(lambda: recs(rpb.GetRecommendationsRequest(pod_id="gone"),
                                 metadata=api.auth, timeout=5))
    assert err.code() == grpc.StatusCode.NOT_FOUND and err.details() == "unknown pod 'gone'"
    assert {"x-request-id", "endcap-error-code"} <= dict(err.trailing_metadata()).keys()
    err = rpc_error(lambda: recs(rpb.GetRecommendationsRequest(pod_id="recent",
                                                               item_ids=["nope"]),
                                 metadata=api.auth, timeout=5))
    assert err.code() == grpc.StatusCode.NOT_FOUND and err.details() == "unknown item 'nope'"

    send = api.events.SendEvents
    err = rpc_error(lambda: send(epb.SendEventsRequest(), metadata=api.auth, timeout=5))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "no events in the request"
    # every event rejected: INVALID_ARGUMENT, the counts in the trailing metadata
    bad = epb.SendEventsRequest(events=[
        epb.Event(event_id="b1", type=epb.EVENT_TYPE_VIEW, session_id="s"),
        epb.Event(event_id="b2", session_id="s", item_id="mug"),
    ])
    err = rpc_error(lambda: send(bad, metadata=api.auth, timeout=5))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == ("no event accepted: event 0 (item_id): a view event needs "
                             "item_id; 1 more rejected")
    result = epb.SendEventsResponse.FromString(
        dict(err.trailing_metadata())["endcap-events-result-bin"])
    assert result.rejected == 2 and [e.field for e in result.errors] == ["item_id", "type"]
    # as over HTTP, the tenant's secret token may read too
    secret = (("authorization", f"Bearer {api.tenant.secret_token}"),)
    assert recs(rpb.GetRecommendationsRequest(pod_id="recent"), metadata=secret,
                timeout=5).pod.id == "recent"


def test_sigterm_drains(api: Api) -> None:
    """SIGTERM: health turns NOT_SERVING at once while calls are still answered, then
    the process exits cleanly. It stops the module's server: keep it the module's last
    test that uses ``api``."""
    assert api.server.proc is not None
    health = health_pb2_grpc.HealthStub(api.channel)
    api.server.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    while health.Check(health_pb2.HealthCheckRequest(), timeout=5).status != \
            health_pb2.HealthCheckResponse.NOT_SERVING:
        assert time.monotonic() < deadline, "health still SERVING 5 s after SIGTERM"
        time.sleep(0.05)
    reply = api.recs.GetRecommendations(rpb.GetRecommendationsRequest(pod_id="recent"),
                                        metadata=api.auth, timeout=5)
    assert reply.pod.id == "recent"  # draining: still answering
    assert api.server.proc.wait(timeout=30) == 0


def test_store_outage(tmp_path: Path, start_server: Callable[..., Server]) -> None:
    """Redis down: recommendations degrade to the caches, events are UNAVAILABLE with
    the HTTP API's message."""
    redis = RedisServer(tmp_path)
    try:
        url = f"{redis.url}?prefix={unique_prefix()}&timeout=0.5"
        tenant = create_tenant(url, "shop")
        grpc_port = free_port()
        server = start_server(url, ENDCAP_GRPC_PORT=str(grpc_port))
        with serve_grpc(server, tenant, grpc_port) as api:
            recs = api.recs.GetRecommendations
            request = rpb.GetRecommendationsRequest(pod_id="recent", session_id="s1")
            assert not recs(request, metadata=api.auth, timeout=5).degraded
            redis.stop()
            assert recs(request, metadata=api.auth, timeout=10).degraded
            batch = epb.SendEventsRequest(events=[view("late", "mug")])
            send = api.events.SendEvents
            err = rpc_error(lambda: send(batch, metadata=api.auth, timeout=10))
            http = api.http.post("/v1/events", json={"event_id": "late", "type": "view",
                                                     "session_id": "s1", "item_id": "mug"})
            assert http.status_code == 503
            assert err.code() == grpc.StatusCode.UNAVAILABLE
            assert err.details() == http.json()["error"]["message"]
    finally:
        redis.stop()
