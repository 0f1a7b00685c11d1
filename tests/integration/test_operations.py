"""Operating ``endcap serve``: request ids in headers and JSON logs, OpenTelemetry spans
over OTLP/HTTP, the operational metrics, settings checked at start, and a SIGTERM that
drains (readiness false, requests in flight finished, exit 0)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import msgspec
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import Server, Tenant, clients, create_tenant, free_port

ITEMS = [{"id": f"i{n}", "name": f"Item {n}", "price": 1.0 + n,
          "categories": ["Kitchen/Mugs"]} for n in range(20)]


def _shop(sec: httpx.Client, pub: httpx.Client) -> None:
    assert sec.put("/v1/items", json=ITEMS).status_code == 200
    assert sec.put("/v1/pods/top", json={"strategy": "bestsellers"}).status_code in (200, 201)
    events = [{"event_id": f"p{n}", "type": "purchase", "user_id": f"u{n}",
               "timestamp": time.time() - 60, "items": [{"id": f"i{n % 5}", "quantity": 1}]}
              for n in range(30)]
    assert pub.post("/v1/events", json=events).status_code == 202


@pytest.fixture
def shop(tmp_path: Path) -> tuple[str, Tenant]:
    url = f"file://{tmp_path / 'store'}"
    return url, create_tenant(url, "shop")


def test_request_ids_reach_the_header_and_the_json_access_log(
        shop: tuple[str, Tenant], start_server: Callable[..., Server]) -> None:
    url, tenant = shop
    server = start_server(url, ENDCAP_ACCESS_LOG="true")
    pub, sec = clients(server.url, tenant)
    r = sec.get("/v1/status", headers={"X-Request-ID": "storefront-42"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "storefront-42"
    made = sec.get("/v1/status").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", made)
    bad = pub.post("/v1/events", content=b"[", headers={"X-Request-ID": "bad one"})
    assert bad.status_code == 400 and re.fullmatch(r"[0-9a-f]{16}", bad.headers["x-request-id"])
    lines: list[dict[str, object]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(lines) < 3:
        lines = [msgspec.json.decode(line) for line in server.log_path.read_text().splitlines()
                 if line.startswith("{") and '"route"' in line]
        time.sleep(0.05)
    by_id = {line["request_id"]: line for line in lines}
    assert by_id["storefront-42"]["route"] == "status"
    assert by_id["storefront-42"]["status"] == 200
    assert by_id[made]["level"] == "info"
    assert by_id[bad.headers["x-request-id"]]["status"] == 400
    assert all(isinstance(line["duration_ms"], float) for line in lines)


def test_operational_metrics(shop: tuple[str, Tenant],
                             start_server: Callable[..., Server]) -> None:
    url, tenant = shop
    server = start_server(url)
    pub, sec = clients(server.url, tenant)
    _shop(sec, pub)
    empty = 0
    for _ in range(3):
        r = pub.get("/v1/pods/top/recommendations")
        assert r.status_code == 200
        empty += not r.json()["results"]
    text = httpx.get(server.url + "/metrics").text

    def value(series: str) -> float:
        m = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
        assert m, f"{series} not in /metrics"
        return float(m.group(1))

    assert value('endcap_api_strategy_duration_seconds_count{strategy="bestsellers"}') == 3
    assert value('endcap_api_strategy_empty_total{strategy="bestsellers"}') == empty
    assert value('endcap_api_pod_empty_results_total{pod="top"}') == empty
    assert value('endcap_api_store_call_duration_seconds_count{op="resolve_key"}') >= 5
    assert value('endcap_api_store_call_duration_seconds_count{op="upsert_items"}') == 1
    assert value('endcap_api_store_errors_total{op="get_items"}') == 0
    assert value("endcap_api_ready") == 1
    assert value("endcap_api_inflight_requests") == 0
    assert value('endcap_api_events_total{outcome="accepted"}') == 30
    assert "endcap_api_cache_hits_total" in text or "endcap_api_cache" not in text


class _Collector(ThreadingHTTPServer):
    """A minimal OTLP/HTTP trace receiver: keeps every request it is sent."""

    def __init__(self) -> None:
        self.received: list[ExportTraceServiceRequest] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                msg = ExportTraceServiceRequest()
                msg.ParseFromString(body)
                collector.received.append(msg)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def collector() -> Iterator[_Collector]:
    c = _Collector()
    thread = threading.Thread(target=c.serve_forever, daemon=True)
    thread.start()
    yield c
    c.shutdown()


def test_tracing_exports_request_and_store_spans(
        shop: tuple[str, Tenant], start_server: Callable[..., Server],
        collector: _Collector) -> None:
    url, tenant = shop
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}/v1/traces"
    server = start_server(url, ENDCAP_TRACING="otlp", ENDCAP_OTEL_ENDPOINT=endpoint,
                          ENDCAP_OTEL_SERVICE_NAME="endcap-test", OTEL_BSP_SCHEDULE_DELAY="100")
    pub, sec = clients(server.url, tenant)
    _shop(sec, pub)
    r = pub.get("/v1/pods/top/recommendations", headers={"X-Request-ID": "traced-1"})
    assert r.status_code == 200
    spans = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        spans = [(rs, s) for msg in collector.received for rs in msg.resource_spans
                 for ss in rs.scope_spans for s in ss.spans]
        if any(s.name == "GET recommendations" for _, s in spans):
            break
        time.sleep(0.1)

    def attrs(span: object) -> dict[str, object]:
        return {a.key: a.value.string_value or a.value.int_value  # type: ignore[attr-defined]
                for a in span.attributes}  # type: ignore[attr-defined]

    request = [(rs, s) for rs, s in spans if s.name == "GET recommendations"
               and attrs(s).get("endcap.request_id") == "traced-1"]
    assert len(request) == 1, [s.name for _, s in spans]
    resource, root = request[0]
    assert {a.key: a.value.string_value for a in resource.resource.attributes
            }["service.name"] == "endcap-test"
    assert attrs(root)["http.response.status_code"] == 200
    children = [s for _, s in spans if s.parent_span_id == root.span_id]
    names = {s.name for s in children}
    assert {"store.resolve_key", "store.get_pod"} <= names, names
    assert all(s.trace_id == root.trace_id and attrs(s)["endcap.request_id"] == "traced-1"
               for s in children)


def test_bad_settings_stop_the_start_with_every_message(tmp_path: Path) -> None:
    env = {**os.environ, "ENDCAP_LOG_FORMAT": "xml", "ENDCAP_DRAIN_SECONDS": "-3",
           "ENDCAP_TRACING": "zipkin"}
    out = subprocess.run([sys.executable, "-m", "endcap.cli.main", "serve", "--store",
                          f"file://{tmp_path / 'store'}", "--port", str(free_port())],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode != 0
    assert "ENDCAP_LOG_FORMAT='xml'" in out.stderr and "one of: json, text" in out.stderr
    assert "ENDCAP_DRAIN_SECONDS='-3'" in out.stderr
    assert "ENDCAP_TRACING='zipkin'" in out.stderr


def test_sigterm_drains_then_exits_cleanly(shop: tuple[str, Tenant],
                                          start_server: Callable[..., Server]) -> None:
    url, tenant = shop
    server = start_server(url, ENDCAP_DRAIN_SECONDS="1.5")
    pub, sec = clients(server.url, tenant)
    _shop(sec, pub)  # 30 events
    assert httpx.get(server.url + "/readyz").status_code == 200
    events = [{"event_id": f"v{n}", "type": "view", "user_id": f"u{n % 7}",
               "item_id": f"i{n % 20}", "timestamp": time.time() - 5} for n in range(500)]
    body = msgspec.json.encode(events)
    # A request in flight: headers and half its body sent before the signal.
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    conn.sendall(f"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                 f"{tenant.public_key}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:len(body) // 2])
    time.sleep(0.3)
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # Draining: not ready, yet still answering (the load balancer takes it out).
    r = sec.get("/readyz")
    assert r.status_code == 503 and r.json()["error"]["code"] == "draining"
    assert pub.get("/v1/pods/top/recommendations").status_code == 200
    conn.sendall(body[len(body) // 2:])
    reply = b""
    while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        reply += chunk
    conn.close()
    assert reply.startswith(b"HTTP/1.1 202"), reply[:200]
    assert b'"accepted":500,' in reply
    assert server.proc.wait(30) == 0
    pub.close()
    sec.close()
    # Every acknowledged event is there after the restart.
    again = Server(url, server.log_path).start()
    try:
        _, sec2 = clients(again.url, tenant)
        assert sec2.get("/v1/status").json()["events"] == 530
    finally:
        again.stop()
