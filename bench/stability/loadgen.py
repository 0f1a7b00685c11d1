"""The load generator, run in its own process (pinned off the api's core) by the
orchestrator: ``python bench/stability --loadgen CONFIG.json``.

Two modes:

* ``max``: closed loop. ``c`` connections each send the next recommendations request as
  soon as the previous one is answered, followed, with probability ``batch_share``, by
  an event batch (the open loop's mix, so that the maximum is that of the workload the
  run offers, the stream's work included); ``c`` doubles step by step until the
  throughput stops growing. The best step's recommendations per second are the maximum.
* ``sustained``: open loop in steps at rising rates (the run's mix, event batches
  included); the highest rate whose step kept up is the sustained maximum. A closed loop
  with 32-64 connections lets every process batch its work; an open loop at the same
  mean rate does not, and saturates at about half the closed-loop rate on 2 cores.
* ``run``: open loop. Recommendations are scheduled at a fixed ``rate`` (evenly spaced),
  each slot also carrying an event batch with probability ``batch_share``; one catalog
  update at ``update_at``; event-to-effect probes every ``probe_every`` seconds. Latency
  is measured from each request's *scheduled* send time, so a stall that delays later
  sends is charged to them (no coordinated omission).

Results go to ``out`` (``.npz`` arrays per request, JSON summary beside it).
"""

from __future__ import annotations

import array
import asyncio
import json
import random
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
import numpy as np

from .httpclient import TRANSPORT_ERROR, Connection, Pool, request_bytes
from .mix import REC_MIX, Mix, Shop

#: Request kinds as stored in the per-request arrays (index = code).
KINDS: tuple[str, ...] = (*(k for k, _ in REC_MIX), "events", "catalog", "probe-post",
                          "probe-poll")
KIND_CODE = {k: i for i, k in enumerate(KINDS)}
REC_KINDS = frozenset(k for k, _ in REC_MIX)
#: Timestamps: uvloop's loop.time() has a resolution of 1 ms, too coarse for latencies.
clock = time.perf_counter
#: A request still waiting for an answer after this long is counted as failed.
REQUEST_TIMEOUT = 10.0
#: Status recorded for a request that got no answer within REQUEST_TIMEOUT.
TIMED_OUT = -1


class Recorder:
    """One row per request: kind, scheduled offset (s), latency (ms), status, results,
    and how late the generator sent it (ms)."""

    def __init__(self) -> None:
        self.kind = array.array("B")
        self.sched = array.array("d")
        self.latency = array.array("f")
        self.status = array.array("h")
        self.results = array.array("h")
        self.late = array.array("f")

    def add(self, kind: int, sched: float, latency_s: float, status: int, results: int,
            late_s: float) -> None:
        self.kind.append(kind)
        self.sched.append(sched)
        self.latency.append(1000 * latency_s)
        self.status.append(status)
        self.results.append(results)
        self.late.append(1000 * late_s)

    def save(self, path: Path) -> None:
        np.savez(path, kind=np.frombuffer(self.kind, np.uint8),
                 sched=np.frombuffer(self.sched, np.float64),
                 latency_ms=np.frombuffer(self.latency, np.float32),
                 status=np.frombuffer(self.status, np.int16),
                 results=np.frombuffer(self.results, np.int16),
                 late_ms=np.frombuffer(self.late, np.float32))


class Generator:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.host, self.port = cfg["host"], int(cfg["port"])
        self.hostport = f"{self.host}:{self.port}"
        shop = Shop(**cfg["shop"])
        # each phase's events get their own ids (the server would count a repeat as a
        # duplicate); catalog items and probes keep the run's
        self.mix = Mix(shop, float(cfg["zipf_s"]), int(cfg["seed"]),
                       cfg["run_id"] + {"run": ""}.get(cfg["mode"], "-" + cfg["mode"]))
        self.read_headers = {"Authorization": f"Bearer {cfg['public_key']}"}
        self.write_headers = {**self.read_headers, "Content-Type": "application/json"}
        self.secret_headers = {"Authorization": f"Bearer {cfg['secret_token']}",
                               "Content-Type": "application/json"}
        self.rec = Recorder()
        self.encode = msgspec.json.Encoder().encode

    def rec_request(self) -> tuple[str, bytes]:
        kind = self.mix.rec_kind()
        return kind, request_bytes("GET", self.mix.rec_path(kind), self.hostport,
                                   self.read_headers)

    # -- closed loop ---------------------------------------------------------------------

    async def max_throughput(self) -> dict[str, Any]:
        steps: list[dict[str, Any]] = []
        best = 0.0
        flat = 0
        for c in self.cfg["connections"]:
            step = await self._closed_step(int(c), float(self.cfg["step_seconds"]))
            steps.append(step)
            print(json.dumps({"step": step}), flush=True)
            if step["rps"] > best * 1.03:
                best, flat = max(best, step["rps"]), 0
            else:
                best = max(best, step["rps"])
                flat += 1
                if flat >= 2:  # two steps without 3 % more: saturated
                    break
        return {"mode": "max", "steps": steps, "max_rps": best}

    async def _closed_step(self, c: int, seconds: float) -> dict[str, Any]:
        t0 = clock()
        warm_until, end = t0 + 0.25 * seconds, t0 + seconds
        lat: list[float] = []
        errors = batches = 0
        share, size = float(self.cfg.get("batch_share", 0.0)), int(self.cfg.get("batch_size", 0))
        rng = random.Random(int(self.cfg["seed"]) + c)

        async def worker() -> None:
            nonlocal errors, batches
            conn = Connection(self.host, self.port)
            try:
                while (now := clock()) < end:
                    kind, raw = self.rec_request()
                    try:
                        status, body = await conn.send(raw)
                    except (OSError, asyncio.IncompleteReadError):
                        status, body = TRANSPORT_ERROR, b""
                    done = clock()
                    if now >= warm_until:
                        lat.append(done - now)
                        errors += not 200 <= status < 300
                    if status == 200:
                        self.mix.remember(kind, body)  # so that clicks name served results
                    if share and rng.random() < share:
                        raw = request_bytes("POST", "/v1/events", self.hostport,
                                            self.write_headers,
                                            self.encode(self.mix.event_batch(size)))
                        try:
                            status, _ = await conn.send(raw)
                        except (OSError, asyncio.IncompleteReadError):
                            status = TRANSPORT_ERROR
                        if clock() >= warm_until:
                            batches += 1
                            errors += not 200 <= status < 300
            finally:
                conn.close()

        await asyncio.gather(*(worker() for _ in range(c)))
        lat.sort()
        span = end - warm_until
        return {"connections": c, "rps": len(lat) / span, "requests": len(lat),
                "event_batches": batches, "errors": errors, "p50_ms": 1000 * _q(lat, 0.5),
                "p99_ms": 1000 * _q(lat, 0.99)}

    # -- sustained: open-loop steps ------------------------------------------------------

    async def sustained(self) -> dict[str, Any]:
        """Open-loop steps at the rising ``rates``, ``step_seconds`` each: the highest
        rate whose step kept up (every request answered without error, p99 from the
        scheduled send under ``knee_ms``), at the first try or the second, is the
        sustained maximum."""
        pool = Pool(self.host, self.port, int(self.cfg["pool_limit"]))
        steps: list[dict[str, Any]] = []
        best = 0.0
        for rate in self.cfg["rates"]:
            # a step that failed is tried once more: one stall on a shared box is no knee
            for _ in range(2):
                step = await self._open_step(pool, float(rate),
                                             float(self.cfg["step_seconds"]))
                steps.append(step)
                print(json.dumps({"step": step}), flush=True)
                await asyncio.sleep(1.0)  # what queued drains before the next step
                if step["kept_up"]:
                    break
            if not step["kept_up"]:
                break
            best = float(rate)
        pool.close()
        return {"mode": "sustained", "steps": steps, "max_rps": best}

    async def _open_step(self, pool: Pool, rate: float, seconds: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        share, size = float(self.cfg["batch_share"]), int(self.cfg["batch_size"])
        rng = random.Random(int(self.cfg["seed"]) + int(rate))
        lat: list[float] = []
        errors = 0

        async def one(kind: str, raw: bytes, due: float) -> None:
            nonlocal errors
            try:
                status, body = await asyncio.wait_for(pool.send(raw), REQUEST_TIMEOUT)
            except TimeoutError:
                status, body = TIMED_OUT, b""
            if kind in REC_KINDS:
                lat.append(clock() - due)
                if status == 200:
                    self.mix.remember(kind, body)
            errors += not 200 <= status < 300

        tasks: set[asyncio.Task[None]] = set()
        n = int(rate * seconds)
        async for due in slots(clock() + 0.05, rate, n):
            kind, raw = self.rec_request()
            batch = None
            if rng.random() < share:
                batch = request_bytes("POST", "/v1/events", self.hostport,
                                      self.write_headers,
                                      self.encode(self.mix.event_batch(size)))
            for k, r in ((kind, raw), ("events", batch)):
                if r is not None:
                    t = loop.create_task(one(k, r, due))
                    tasks.add(t)
                    t.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + 1)
        lat.sort()
        p99 = 1000 * _q(lat, 0.99)
        return {"rate": rate, "requests": len(lat), "errors": errors,
                "p50_ms": 1000 * _q(lat, 0.5), "p99_ms": p99,
                "kept_up": errors == 0 and len(lat) == n and p99 < float(self.cfg["knee_ms"])}

    # -- open loop -----------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        cfg = self.cfg
        rate, duration = float(cfg["rate"]), float(cfg["duration"])
        share, size = float(cfg["batch_share"]), int(cfg["batch_size"])
        pool = Pool(self.host, self.port, int(cfg["pool_limit"]))
        loop = asyncio.get_running_loop()
        start = clock() + 0.2
        n = int(rate * duration)
        extra: list[asyncio.Task[Any]] = [
            loop.create_task(self._probes(start, duration, float(cfg["probe_every"]))),
            loop.create_task(self._catalog_update(start, float(cfg["update_at"]))),
        ]
        inflight: set[asyncio.Task[None]] = set()
        rng = random.Random(int(cfg["seed"]) + 1)
        async for due in slots(start, rate, n):
            kind, raw = self.rec_request()
            t = loop.create_task(self._one(pool, kind, raw, due, start))
            inflight.add(t)
            t.add_done_callback(inflight.discard)
            if rng.random() < share:
                body = self.encode(self.mix.event_batch(size))
                raw = request_bytes("POST", "/v1/events", self.hostport,
                                    self.write_headers, body)
                t = loop.create_task(self._one(pool, "events", raw, due, start))
                inflight.add(t)
                t.add_done_callback(inflight.discard)
        sent_at = clock() - start
        if inflight:
            await asyncio.wait(inflight, timeout=REQUEST_TIMEOUT + 1)
        probes, update = await asyncio.gather(*extra)
        pool.close()
        start_wall = time.time() - (clock() - start)
        return {"mode": "run", "rate": rate, "duration": duration, "sent_seconds": sent_at,
                "start_wall": start_wall,
                "connections_opened": pool.opened, "probes": probes, "catalog_update": update}

    async def _one(self, pool: Pool, kind: str, raw: bytes, due: float, start: float) -> None:
        late = clock() - due
        try:
            status, body = await asyncio.wait_for(pool.send(raw), REQUEST_TIMEOUT)
        except TimeoutError:
            status, body = TIMED_OUT, b""
        done = clock()
        results = self.mix.remember(kind, body) if kind in REC_KINDS and status == 200 else 0
        self.rec.add(KIND_CODE[kind], due - start, done - due, status, results, late)

    async def _catalog_update(self, start: float, at: float) -> dict[str, Any]:
        """PUT /v1/items with re-priced and new items, then PATCH some out of stock."""
        await asyncio.sleep(max(0.0, start + at - clock()))
        conn = Connection(self.host, self.port)
        items = self.mix.catalog_update(self.cfg["catalog_records"])
        t0 = clock()
        raw = request_bytes("PUT", "/v1/items", self.hostport, self.secret_headers,
                            self.encode(items))
        status, body = await _send(conn, raw)
        put_s = clock() - t0
        self.rec.add(KIND_CODE["catalog"], t0 - start, put_s, status, 0, 0.0)
        statuses = [status]
        for rec in items[:20]:
            t1 = clock()
            raw = request_bytes("PATCH", f"/v1/items/{quote(rec['id'])}", self.hostport,
                                self.secret_headers, b'{"in_stock": false}')
            s, _ = await _send(conn, raw)
            self.rec.add(KIND_CODE["catalog"], t1 - start, clock() - t1, s, 0, 0.0)
            statuses.append(s)
        conn.close()
        return {"at_s": t0 - start, "items_put": len(items), "patched": 20,
                "put_ms": 1000 * put_s, "put_status": status,
                "put_body": body[:200].decode(errors="replace"), "statuses": statuses}

    async def _probes(self, start: float, duration: float, every: float) -> list[float | None]:
        """Every ``every`` s, a view for a fresh session on one connection, then the
        recently-viewed pod polled on another every 5 ms until the item shows: seconds
        from sending the event to seeing it (None: not within 5 s)."""
        post, poll = Connection(self.host, self.port), Connection(self.host, self.port)
        out: list[float | None] = []
        n = 0
        await asyncio.sleep(max(0.0, start + min(1.0, every) - clock()))
        while clock() < start + duration - 1.0:
            n += 1
            session, item = f"stab-probe-{self.cfg['run_id']}-{n}", self.mix.item()
            event = {"event_id": f"stab-probe-{self.cfg['run_id']}-{n}", "type": "view",
                     "session_id": session, "item_id": item}
            t0 = clock()
            raw = request_bytes("POST", "/v1/events", self.hostport, self.write_headers,
                                self.encode(event))
            status, _ = await _send(post, raw)
            self.rec.add(KIND_CODE["probe-post"], t0 - start, clock() - t0, status, 0, 0)
            needle = self.encode(item)
            path = (f"/v1/pods/stab-recently-viewed/recommendations?session_id={session}"
                    "&num_results=6")
            get = request_bytes("GET", path, self.hostport, self.read_headers)
            seen: float | None = None
            while status == 202 and clock() - t0 < 5.0:
                t1 = clock()
                s, body = await _send(poll, get)
                self.rec.add(KIND_CODE["probe-poll"], t1 - start, clock() - t1, s, 0, 0)
                if needle in body:
                    seen = clock() - t0
                    break
                await asyncio.sleep(0.005)
            out.append(seen)
            await asyncio.sleep(max(0.0, t0 + every - clock()))
        post.close()
        poll.close()
        return out


async def slots(start: float, rate: float, n: int) -> AsyncIterator[float]:
    """The ``n`` send times ``start + i / rate``, each yielded once it is due (late ones
    at once, in order): the open loop's schedule."""
    for i in range(n):
        due = start + i / rate
        if (wait := due - clock()) > 0:
            await asyncio.sleep(wait)
        yield due


async def _send(conn: Connection, raw: bytes) -> tuple[int, bytes]:
    try:
        return await asyncio.wait_for(conn.send(raw), REQUEST_TIMEOUT)
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        conn.close()
        return TRANSPORT_ERROR, b""


def _q(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main(config: Path) -> None:
    """Run the mode the config names; the summary goes to ``<out>.json``, and in ``run``
    mode the per-request arrays to ``<out>.npz``."""
    cfg = json.loads(config.read_text())
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        runner = asyncio.run
    gen = Generator(cfg)
    t0 = time.perf_counter()
    if cfg["mode"] == "max":
        summary = runner(gen.max_throughput())
    elif cfg["mode"] == "sustained":
        summary = runner(gen.sustained())
    else:
        summary = runner(gen.run())
        gen.rec.save(Path(cfg["out"] + ".npz"))
        late = sorted(gen.rec.late)
        summary["generator_late_ms"] = {"p50": _q(late, 0.5), "p99": _q(late, 0.99),
                                        "max": late[-1] if late else 0.0,
                                        "mean": statistics.fmean(late) if late else 0.0}
    summary["wall_seconds"] = time.perf_counter() - t0
    Path(cfg["out"] + ".json").write_text(json.dumps(summary, indent=1))
