"""gRPC against HTTP for the same recommendations request, on one api process.

    .venv/bin/python bench/grpc_http.py [--requests 6000] [--concurrency 16] [--fresh]

Builds a synthetic shop once (``endcap generate``, ``load``, ``train --no-embed``: 2,000
items, 5,000 shoppers, 60,000 events; cached in the temp directory), starts ``endcap serve
--grpc-port`` pinned to CPU 0, checks that both transports give the same answer, and
sends the same request (the ``for-you`` pod, the same shopper, 10 results) from two
client processes pinned to CPU 1, one per transport, each on uvloop:

* HTTP/1.1: a minimal keep-alive client on asyncio streams (one connection per request
  in flight), the JSON body decoded with msgspec;
* gRPC: the generated stub on one ``grpc.aio`` channel (HTTP/2, the calls multiplexed),
  the protobuf response decoded by the stub;

one request at a time, then ``--concurrency`` in flight; and the same for each
transport's cheapest call (``GET /healthz``, ``grpc.health.v1.Health/Check``), the floor.
The rows run in interleaved rounds so that a busy machine's ups and downs fall on all of
them alike. It prints requests/s, p50 and p99 latency as the client sees them, and the
CPU time the server process and the client process spent per request (from /proc and
``process_time``), so that a client-bound row shows as such.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import uvloop

from proc import cli, free_port

CACHE = Path(tempfile.gettempdir()) / "endcap-bench-grpc-shop"
TENANT = "bench"
POD = "for-you"
SERVER_CPU, CLIENT_CPU = 0, 1
TRANSPORTS = {"http": "HTTP/1.1 + JSON", "grpc": "gRPC + protobuf"}
REQUESTS = {"recs": f"{POD}, 10 results", "floor": "floor: health check"}

Call = Callable[[], Awaitable[int]]


def build_shop(cache: Path) -> None:
    """The synthetic shop's store, trained, with its key and a shopper in creds.json."""
    shutil.rmtree(cache, ignore_errors=True)
    data, url = cache / "data", f"file://{cache / 'store'}"
    cli("generate", "--items", "2000", "--shoppers", "5000", "--events", "60000",
        "--out", str(data))
    keys = cli("tenants", "create", TENANT, "--store", url)
    public = re.search(r"public key:\s+(\S+)", keys)
    assert public, keys
    cli("load", "--store", url, "--tenant", TENANT, "--dir", str(data))
    cli("train", "--store", url, "--no-embed")
    users = Counter(json.loads(line).get("user_id") for line in
                    (data / "events.ndjson").read_text().splitlines())
    users.pop(None, None)
    shopper = users.most_common(1)[0][0]  # a rich history: for_you answers from it
    (cache / "creds.json").write_text(json.dumps({"public_key": public.group(1),
                                                  "shopper": shopper}))


def two_cpus() -> bool:
    return {SERVER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0)


def start_server(store: Path, port: int, grpc_port: int, log: Path, pinned: bool
                 ) -> subprocess.Popen[bytes]:
    pin = (lambda: os.sched_setaffinity(0, {SERVER_CPU})) if pinned else None
    proc = subprocess.Popen(
        [sys.executable, "-m", "endcap.cli.main", "serve", "--store", f"file://{store}",
         "--port", str(port), "--grpc-port", str(grpc_port)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, preexec_fn=pin,
        env={**os.environ, "ENDCAP_LOG_LEVEL": "warning"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"endcap serve exited: see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    sys.exit("endcap serve did not become ready in 120 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The client processes: gRPC's threads slow an asyncio HTTP client sharing their
# process, so each transport has its own. Each reads "<request> <in flight> <requests>
# <warm-up>" lines and answers each with one JSON line of measurements.

class HttpClient:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, port: int, request: bytes) -> None:
        self._port = port
        self._request = request
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def call(self) -> int:
        try:
            return await self._call()
        except (asyncio.IncompleteReadError, ConnectionError):
            # the server closed it while other rows ran (keep-alive timeout): the
            # warm-up of the next row pays for the new connection
            self.close()
            return await self._call()

    async def _call(self) -> int:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1",
                                                                       self._port)
        self._writer.write(self._request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode("latin-1"))
        length = re.search(rb"(?i)content-length: (\d+)", head)
        assert length, head
        body = msgspec.json.decode(await self._reader.readexactly(int(length.group(1))))
        return int(body.get("total", 1))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def client(args: argparse.Namespace) -> None:
    """A client process: serve measurement requests from stdin until it closes."""
    paths = {"recs": f"/v1/pods/{POD}/recommendations?user_id={args.shopper}&num_results=10",
             "floor": "/healthz"}
    raw = {k: (f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n"
               f"Authorization: Bearer {args.key}\r\n\r\n").encode() for k, p in paths.items()}
    pools: dict[tuple[str, int], list[HttpClient]] = {}
    # One loop for the process: the channel and the connections live on it.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        grpc_calls = runner.run(grpc_callers(args)) if args.client == "grpc" else {}
        for line in sys.stdin:  # between rows the loop is idle
            request, in_flight, requests, warmup = line.split()
            n = int(in_flight)
            if grpc_calls:  # gRPC: every call on the one channel
                calls = [grpc_calls[request]] * n
            else:  # HTTP/1.1: a connection per request in flight
                pool = pools.setdefault((request, n),
                                        [HttpClient(args.port, raw[request]) for _ in range(n)])
                calls = [c.call for c in pool]
            result = runner.run(measure(calls, int(requests), int(warmup), args.server_pid))
            print(json.dumps(result), flush=True)


async def grpc_callers(args: argparse.Namespace) -> dict[str, Call]:
    """The calls of the generated stubs on a ``grpc.aio`` channel of this loop."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from endcap.grpc.gen import recommendations_pb2 as rpb
    from endcap.grpc.gen import recommendations_pb2_grpc

    channel = grpc.aio.insecure_channel(f"127.0.0.1:{args.port}")
    stub = recommendations_pb2_grpc.RecommendationsServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    request = rpb.GetRecommendationsRequest(pod_id=POD, user_id=args.shopper, num_results=10)
    metadata = (("authorization", f"Bearer {args.key}"),)
    check = health_pb2.HealthCheckRequest()

    async def recs() -> int:
        reply = await stub.GetRecommendations(request, metadata=metadata)
        return reply.total

    async def floor() -> int:
        reply = await health.Check(check)
        return int(reply.status == health_pb2.HealthCheckResponse.SERVING)

    return {"recs": recs, "floor": floor}


async def measure(calls: list[Call], requests: int, warmup: int, server_pid: int
                  ) -> dict[str, Any]:
    """``requests`` calls spread over ``len(calls)`` workers, each one at a time, after
    ``warmup`` unmeasured ones."""
    latencies: list[float] = []

    async def worker(call: Call, n: int, keep: bool) -> None:
        for _ in range(n):
            start = time.perf_counter()
            if await call() == 0:
                raise RuntimeError("an empty answer")
            if keep:
                latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(worker(c, max(1, warmup // len(calls)), False) for c in calls))
    server0, client0 = cpu_seconds(server_pid), time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(worker(c, requests // len(calls), True) for c in calls))
    return {"seconds": time.perf_counter() - start, "latencies": latencies,
            "server_cpu": cpu_seconds(server_pid) - server0,
            "client_cpu": time.process_time() - client0}


# The driver.

@dataclass
class Row:
    request: str
    transport: str
    in_flight: int
    seconds: float
    latencies: list[float]
    server_cpu: float
    client_cpu: float

    def __add__(self, other: Row) -> Row:
        return Row(self.request, self.transport, self.in_flight,
                   self.seconds + other.seconds, self.latencies + other.latencies,
                   self.server_cpu + other.server_cpu, self.client_cpu + other.client_cpu)

    def cells(self) -> list[str]:
        n = len(self.latencies)
        q = statistics.quantiles(self.latencies, n=100)
        return [REQUESTS[self.request], TRANSPORTS[self.transport], str(self.in_flight),
                f"{n / self.seconds:,.0f}", f"{q[49] * 1e3:.2f}", f"{q[98] * 1e3:.2f}",
                f"{self.server_cpu / n * 1e6:.0f}", f"{self.client_cpu / n * 1e6:.0f}"]


def same_answer(key: str, shopper: str, port: int, grpc_port: int) -> None:
    """Both transports answer the request with the same items."""
    import grpc

    from endcap.grpc.gen import recommendations_pb2 as rpb
    from endcap.grpc.gen import recommendations_pb2_grpc

    answer = httpx.get(f"http://127.0.0.1:{port}/v1/pods/{POD}/recommendations",
                       params={"user_id": shopper, "num_results": 10},
                       headers={"Authorization": f"Bearer {key}"}).json()
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        reply = recommendations_pb2_grpc.RecommendationsServiceStub(channel).GetRecommendations(
            rpb.GetRecommendationsRequest(pod_id=POD, user_id=shopper, num_results=10),
            metadata=(("authorization", f"Bearer {key}"),))
    assert [r["id"] for r in answer["results"]] == [r.id for r in reply.results], \
        "HTTP and gRPC disagree"
    print(f"request: {POD} for shopper {shopper}: {reply.total} results "
          f"({', '.join(sorted({r.strategy for r in reply.results}))})", file=sys.stderr)


def compare(args: argparse.Namespace, key: str, shopper: str, ports: dict[str, int],
            server_pid: int, pinned: bool) -> list[Row]:
    pin = (lambda: os.sched_setaffinity(0, {CLIENT_CPU})) if pinned else None
    clients = {
        t: subprocess.Popen(
            [sys.executable, __file__, "--client", t, "--port", str(ports[t]), "--key", key,
             "--shopper", shopper, "--server-pid", str(server_pid)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=pin)
        for t in TRANSPORTS}
    rows: dict[tuple[str, str, int], Row] = {}
    share, warmup = args.requests // args.rounds, args.warmup // args.rounds
    try:
        for _ in range(args.rounds):
            for request in REQUESTS:
                for in_flight in (1, args.concurrency):
                    for transport, proc in clients.items():
                        assert proc.stdin is not None and proc.stdout is not None
                        proc.stdin.write(f"{request} {in_flight} {share} {warmup}\n")
                        proc.stdin.flush()
                        got = json.loads(proc.stdout.readline())
                        row = Row(request, transport, in_flight, got["seconds"],
                                  got["latencies"], got["server_cpu"], got["client_cpu"])
                        key_ = (request, transport, in_flight)
                        rows[key_] = rows[key_] + row if key_ in rows else row
    finally:
        for proc in clients.values():
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=30)
    requests, transports = list(REQUESTS), list(TRANSPORTS)
    return sorted(rows.values(), key=lambda r: (requests.index(r.request), r.in_flight,
                                                transports.index(r.transport)))


def table(rows: list[Row]) -> str:
    head = ["request", "transport", "in flight", "req/s", "p50 ms", "p99 ms",
            "server CPU µs/req", "client CPU µs/req"]
    cells = [r.cells() for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) if i < 2 else v.rjust(w)
                                 for i, (v, w) in enumerate(zip(values, widths, strict=True))
                                 ) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep, *(line(c) for c in cells)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=6000, help="measured per row")
    ap.add_argument("--warmup", type=int, default=600, help="unmeasured, per row")
    ap.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    ap.add_argument("--rounds", type=int, default=6, help="interleaved rounds of all rows")
    ap.add_argument("--fresh", action="store_true", help="rebuild the synthetic shop")
    ap.add_argument("--client", choices=list(TRANSPORTS), help=argparse.SUPPRESS)
    for name in ("--port", "--server-pid"):
        ap.add_argument(name, type=int, help=argparse.SUPPRESS)
    for name in ("--key", "--shopper"):
        ap.add_argument(name, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        client(args)
        return
    if args.fresh or not (CACHE / "creds.json").exists():
        t0 = time.perf_counter()
        build_shop(CACHE)
        print(f"shop built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    creds = json.loads((CACHE / "creds.json").read_text())
    work = Path(tempfile.mkdtemp(prefix="endcap-bench-grpc-"))
    shutil.copytree(CACHE / "store", work / "store")  # serve claims and writes its store
    ports = {"http": free_port(), "grpc": free_port()}
    pinned = two_cpus()
    proc = start_server(work / "store", ports["http"], ports["grpc"], work / "serve.log",
                        pinned)
    try:
        same_answer(creds["public_key"], creds["shopper"], ports["http"], ports["grpc"])
        rows = compare(args, creds["public_key"], creds["shopper"], ports, proc.pid, pinned)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    where = (f"server on CPU {SERVER_CPU}, clients on CPU {CLIENT_CPU}" if pinned
             else "server and clients unpinned")
    print(f"\nendcap, gRPC vs HTTP: one api process ({where}); {args.requests} requests "
          f"per row in {args.rounds} interleaved rounds, after {args.warmup} of warm-up\n")
    print(table(rows))


if __name__ == "__main__":
    main()
