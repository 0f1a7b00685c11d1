"""The stream role on real Redis: ``endcap stream`` workers apply every event exactly once,
survive a worker's ``kill -9`` mid-batch, and archive the streams to Parquet before
trimming them."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec
import polars as pl
import pytest

from endcap.events.model import Event, Line
from endcap.store.protocol import Tenant
from endcap.store.redis import RedisStore
from endcap.store.url import open_store
from endcap.stream.archive import EVENT_SCHEMA, Archiver, read_archive
from endcap.stream.groups import APPLY, ARCHIVE, FORGET, ensure_group, forget_idle_consumers
from endcap.stream.metrics import StreamMetrics
from endcap.stream.worker import StreamOptions, StreamWorker
from tests.conftest import free_port, unique_prefix
from tests.redis_servers import RedisServer

#: Midnight UTC three days ago: recent enough to be counted (counters keep 8 days), and a
#: day boundary is crossed by +86_400.
T0 = float(int(time.time() // 86_400 - 3) * 86_400)
_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(Event)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def redis_url(base: str, **opts: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"prefix": unique_prefix(), **opts}.items())
    return f"{base}?{query}"


async def open_redis(url: str, tenant: str = "shop") -> RedisStore:
    store = open_store(url)
    assert isinstance(store, RedisStore)
    await store.create_tenant(Tenant(id=tenant, name=tenant, created_at=time.time()),
                              f"pk-{url}", f"sk-{url}")
    return store


def view(n: int, shoppers: int = 50, day: int = 0) -> Event:
    return Event(event_id=f"e{n}", type="view", user_id=f"u{n % shoppers}",
                 item_id=f"i{n % 97}", timestamp=T0 + day * 86_400 + n * 0.001)


async def wait_until(check: Callable[[], Awaitable[bool]], what: str,
                     timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def counted(store: RedisStore, tenant: str, events: list[Event]) -> float:
    """The sum of the real-time hourly view counters over every shard."""
    hours = {int(float(e.timestamp or 0) // 3600) for e in events}  # type: ignore[arg-type]
    total = 0.0
    for shard in range(store.keys.shards):
        for hour in hours:
            key = store.keys.counter_prefix(tenant, shard) + f"n:view:{hour}"
            total += sum(s for _, s in await store.client.zrange(key, 0, -1, withscores=True))
    return total


async def check_histories(store: RedisStore, tenant: str, events: list[Event]) -> None:
    """Every shopper's history holds each of their events exactly once."""
    expected: dict[str, list[tuple[float, str, str]]] = {}
    for e in events:
        expected.setdefault(e.shopper_keys()[0], []).append(
            (float(e.timestamp or 0), e.type, e.item_id or ""))  # type: ignore[arg-type]
    shoppers = sorted(expected)
    got = await store.histories(tenant, shoppers)
    for shopper, h in zip(shoppers, got, strict=True):
        assert sorted(h.events) == sorted(expected[shopper]), shopper


async def group_backlog(store: RedisStore, tenant: str, group: str) -> tuple[int, int]:
    """(pending, lag) of a consumer group summed over the tenant's streams."""
    pending = lag = 0
    for shard in range(store.keys.shards):
        for g in await store.client.xinfo_groups(store.keys.stream(tenant, shard)):
            if g["name"].decode() == group:
                pending += int(g["pending"])
                lag += int(g["lag"] or 0)
    return pending, lag


async def drained(store: RedisStore, group: str) -> bool:
    return await group_backlog(store, "shop", group) == (0, 0)


# -- the worker in-process ---------------------------------------------------------------


@pytest.mark.parametrize("backend", ["redis", "cluster"])
def test_worker_applies_events_once_and_acks_bad_entries(
        backend: str, request: pytest.FixtureRequest) -> None:
    base = request.getfixturevalue("redis_server" if backend == "redis" else "redis_cluster")

    async def go() -> None:
        store = await open_redis(redis_url(base, shards="4"))
        metrics = StreamMetrics()
        worker = StreamWorker(store, StreamOptions(consumer="w", batch=40, block_ms=200,
                                                   claim_idle=0.5, tenant_poll=0.1), metrics)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            events = [view(n) for n in range(300)]
            for lo in range(0, 300, 100):  # each batch repeats the previous batch's tail
                assert sum(await store.append("shop", events[max(0, lo - 10):lo + 100])) \
                    == 100
            await wait_until(lambda: _equals(counted(store, "shop", events), 300.0),
                             "300 events applied")
            await check_histories(store, "shop", events)
            assert metrics.events["applied"]._value.get() == 300
            assert metrics.effect._sum.get() > 0  # observed, and measured from append

            key = store.keys.stream("shop", 2)
            await store.client.xadd(key, {"e": b"\xc1 not msgpack"})
            await store.client.xadd(key, {"other": b"field"})
            await wait_until(lambda: _equals(_bad(metrics), 2.0), "2 bad entries counted")
            await wait_until(partial(drained, store, APPLY), "every entry acknowledged")
            assert await counted(store, "shop", events) == 300.0
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
            await store.close()

    run(go())


async def _equals(value: Awaitable[Any], expected: Any) -> bool:
    return bool(await value == expected)


async def _bad(metrics: StreamMetrics) -> float:
    return float(metrics.events["bad"]._value.get())


def test_more_streams_than_read_slots_are_polled(redis_server: str) -> None:
    async def go() -> None:
        store = await open_redis(redis_url(redis_server, shards="8", max_connections="4"))
        worker = StreamWorker(store, StreamOptions(consumer="w", block_ms=100,
                                                   tenant_poll=0.1), StreamMetrics())
        assert worker.readers == 2
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            events = [view(n) for n in range(400)]
            await store.append("shop", events)
            await wait_until(lambda: _equals(counted(store, "shop", events), 400.0),
                             "every stream's events applied")
            assert worker._polling()
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
            await store.close()

    run(go())


def test_worker_rides_out_a_redis_restart(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, aof=True)

    async def go() -> None:
        store = await open_redis(redis_url(server.url, shards="2"))
        metrics = StreamMetrics()
        worker = StreamWorker(store, StreamOptions(consumer="w", block_ms=200, claim_idle=0.5,
                                                   tenant_poll=0.1), metrics)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            events = [view(n) for n in range(200)]
            await store.append("shop", events[:100])
            await wait_until(lambda: _equals(counted(store, "shop", events), 100.0),
                             "the first events applied")
            await asyncio.to_thread(server.restart, 1.0)
            await store.append("shop", events[100:])
            await wait_until(lambda: _equals(counted(store, "shop", events), 200.0),
                             "the events sent after the restart applied")
            assert not task.done()
            assert metrics.store_errors._value.get() > 0
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
            await store.close()

    try:
        run(go())
    finally:
        server.stop()


def test_idle_consumers_are_forgotten_unless_they_hold_entries(redis_server: str) -> None:
    async def go() -> None:
        store = await open_redis(redis_url(redis_server, shards="1"))
        c, key = store.client, store.keys.stream("shop", 0)
        await ensure_group(c, key, APPLY)
        await store.append("shop", [view(1), view(2)])
        await c.xreadgroup(APPLY, "done", {key: ">"}, count=1)
        await c.xack(key, APPLY, (await c.xpending_range(key, APPLY, "-", "+", 1))[0]
                     ["message_id"])
        await c.xreadgroup(APPLY, "holding", {key: ">"}, count=1)
        forget = c.register_script(FORGET)
        assert await forget_idle_consumers(c, forget, key, APPLY, "me", 0.0) == ["done"]
        assert [x["name"] for x in await c.xinfo_consumers(key, APPLY)] == [b"holding"]
        await store.close()

    run(go())


# -- kill -9 of a worker mid-batch --------------------------------------------------------


class Workers:
    """``endcap stream`` processes; ``kill()`` is a real ``kill -9``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, url: str, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "endcap.cli.main", "stream", "--store", url,
             "--consumer", name, "--block-ms", "200", *args],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
        return self.procs[name]

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    w = Workers(tmp_path)
    yield w
    w.stop()


def _metric(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def test_kill_9_mid_batch_applies_every_event_once(redis_server: str,
                                                   workers: Workers) -> None:
    url = redis_url(redis_server)
    events = [view(n, shoppers=200) for n in range(20_000)]

    async def go() -> None:
        store = await open_redis(url)
        keys = [store.keys.stream("shop", s) for s in range(store.keys.shards)]
        # w1 applies each batch, then waits a minute before XACK: it is killed there.
        w1 = workers.start(url, "w1", "--batch", "100", "--claim-idle", "1",
                           "--metrics-port", "0", ENDCAP_TEST_STREAM_ACK_DELAY="60")

        async def w1_ready() -> bool:
            assert w1.poll() is None, workers.log("w1")
            infos = [await store.client.xinfo_groups(k) if await store.client.exists(k)
                     else [] for k in keys]
            return all(any(g["name"] == b"apply" for g in i) for i in infos)

        await wait_until(w1_ready, "w1's consumer groups")
        assert sum(await store.append("shop", events[:2_000])) == 2_000

        async def w1_in_hand() -> bool:
            return workers.log("w1").count("test hook") == len(keys)

        await wait_until(w1_in_hand, "w1 holding a batch of every stream")
        in_hand = (await group_backlog(store, "shop", APPLY))[0]
        assert in_hand == 100 * len(keys)
        assert await counted(store, "shop", events) == in_hand  # applied, not acknowledged

        port = free_port()
        w2 = workers.start(url, "w2", "--batch", "300", "--claim-idle", "1",
                           "--metrics-port", str(port))
        for lo in range(2_000, 20_000, 1_000):  # each batch repeats 50 of the previous one
            assert sum(await store.append("shop", events[lo - 50:lo + 1_000])) == 1_000
        for e in events[:100]:  # and the stream itself holds 100 entries twice
            await store.client.xadd(store.keys.stream("shop", store.shard_of_event(e)[0]),
                                    {"e": _enc.encode(e)})
        w1.send_signal(signal.SIGKILL)
        w1.wait(10)

        async def drained() -> bool:
            assert w2.poll() is None, workers.log("w2")
            return await group_backlog(store, "shop", APPLY) == (0, 0)

        await wait_until(drained, "w2 to apply everything, w1's batches included", 45)
        assert await counted(store, "shop", events) == 20_000.0
        await check_histories(store, "shop", events)
        for k in keys:  # the dead worker holds nothing any more
            assert all(int(c["pending"]) == 0 for c in
                       await store.client.xinfo_consumers(k, APPLY) if c["name"] == b"w1")

        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert _metric(text, 'endcap_stream_events_total{outcome="reclaimed"}') == in_hand
        assert _metric(text, 'endcap_stream_events_total{outcome="applied"}') == \
            20_000 - in_hand
        assert _metric(text, 'endcap_stream_events_total{outcome="repeat"}') == in_hand + 100
        assert _metric(text, "endcap_stream_event_to_effect_seconds_count") == 20_100
        assert "reclaimed" in workers.log("w2")

        w2.send_signal(signal.SIGTERM)  # a clean exit
        assert w2.wait(15) == 0
        await store.close()

    run(go())


def test_stream_refuses_the_embedded_store(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "endcap.cli.main", "stream", "--store",
                          "memory://", "--metrics-port", "0"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    assert "embedded store applies each event" in out.stderr


# -- the archive ----------------------------------------------------------------------------


def test_archive_columns_are_the_event_fields() -> None:
    assert list(EVENT_SCHEMA) == list(Event.__struct_fields__)


def archive_options(name: str, **kw: Any) -> StreamOptions:
    return StreamOptions(consumer=name, **{"archive_interval": 0.0, "archive_batch": 1_000,
                                           "block_ms": 200, "claim_idle": 0.5,
                                           "tenant_poll": 0.1, **kw})


def parquet_rows(root: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted(root.rglob("*.parquet")), hive_partitioning=False)


@pytest.mark.parametrize("backend", ["redis", "cluster"])
def test_archiver_trims_only_what_is_applied_and_archived(
        backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    base = request.getfixturevalue("redis_server" if backend == "redis" else "redis_cluster")
    root = tmp_path / "archive"
    url = redis_url(base, shards="2", archive=f"file://{root}")
    events = [view(n, day=n // 1_000) for n in range(3_000)]  # three days
    purchase = Event(event_id="p1", type="purchase", user_id="u1", timestamp=T0 + 5,
                     items=[Line(id="a", quantity=2, price=3.5), Line(id="b")], revenue=7.0)

    async def go() -> None:
        store = await open_redis(url)
        c = store.client
        keys = [store.keys.stream("shop", s) for s in (0, 1)]
        for k in keys:
            await ensure_group(c, k, APPLY)
        await store.append("shop", [*events, purchase])
        lengths = [await c.xlen(k) for k in keys]
        stop = asyncio.Event()
        archiver = Archiver(store, archive_options("a"), StreamMetrics())

        # Archived, but nothing applied yet: nothing is trimmed.
        for shard in (0, 1):
            assert await archiver.visit("shop", shard, stop)
        assert [await c.xlen(k) for k in keys] == lengths
        assert await group_backlog(store, "shop", ARCHIVE) == (0, 0)
        days = sorted(p.name for p in (root / "tenant=shop").iterdir())
        assert days == [f"day={datetime.fromtimestamp(T0 + d * 86_400, UTC):%Y-%m-%d}"
                        for d in range(3)]
        for d in days:
            names = [p.name for p in (root / "tenant=shop" / d).iterdir()]
            assert names and all(re.fullmatch(r"[01]-\d+-\d+-\d+-\d+\.parquet", n)
                                 for n in names), names
        archived = read_archive(str(store.archive), "shop")
        assert sorted(e.event_id for e in archived) == sorted(
            e.event_id for e in [*events, purchase])
        assert next(e for e in archived if e.event_id == "p1") == purchase

        # The apply group has 100 entries of shard 0 in hand and 40 of them done: the
        # stream is trimmed up to the first entry still pending.
        got = await c.xreadgroup(APPLY, "x", {keys[0]: ">"}, count=100)
        ids = [sid for sid, _ in got[0][1]]
        await store.apply("shop", [_dec.decode(f[b"e"]) for _, f in got[0][1][:40]])
        await c.xack(keys[0], APPLY, *ids[:40])
        assert await archiver.visit("shop", 0, stop)
        assert (await c.xrange(keys[0], count=1))[0][0] == ids[40]
        assert await c.xlen(keys[0]) == lengths[0] - 40
        await archiver.release()

        # A worker applies everything (taking x's entries over); then all but the last
        # delivered entry of each stream are trimmed.
        worker = StreamWorker(store, archive_options("w"), StreamMetrics())
        task = asyncio.create_task(worker.run(stop))
        try:
            await wait_until(partial(drained, store, APPLY), "every event applied")
            await wait_until(lambda: _equals(_lengths(store, keys), [1, 1]),
                             "the streams trimmed to their last entry")
            late = [view(n) for n in range(10_000, 10_050)]
            await store.append("shop", late)
            everything = [*events, purchase, *late]
            got_all = await store.read_events("shop")
            assert sorted(e.event_id for e in got_all) == sorted(
                e.event_id for e in everything)
            for group in (APPLY, ARCHIVE):
                await wait_until(partial(drained, store, group), f"the late events in {group}")
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
        assert await counted(store, "shop", everything) == len(everything) - 1
        rows = parquet_rows(root)
        assert rows.height == rows["event_id"].n_unique() == len(everything)
        await store.close()

    run(go())


async def _lengths(store: RedisStore, keys: list[str]) -> list[int]:
    return [int(await store.client.xlen(k)) for k in keys]


def test_archiver_waits_for_a_full_batch_or_the_interval(redis_server: str,
                                                         tmp_path: Path) -> None:
    root = tmp_path / "archive"
    url = redis_url(redis_server, shards="1", archive=f"file://{root}")

    async def go() -> None:
        store = await open_redis(url)
        await store.append("shop", [view(n) for n in range(30)])
        stop = asyncio.Event()
        patient = Archiver(store, archive_options("a", archive_interval=1.0,
                                                  archive_batch=100), StreamMetrics())
        assert await patient.visit("shop", 0, stop)
        assert not list(root.rglob("*.parquet"))  # 30 fresh events: not yet
        await store.append("shop", [view(n) for n in range(30, 130)])
        assert await patient.visit("shop", 0, stop)  # a full batch is due at once
        assert await group_backlog(store, "shop", ARCHIVE) == (0, 30)
        await asyncio.sleep(1.05)
        assert await patient.visit("shop", 0, stop)  # the rest, now 1 s old
        assert await group_backlog(store, "shop", ARCHIVE) == (0, 0)
        assert len(read_archive(f"file://{root}", "shop")) == 130
        await store.close()

    run(go())


def test_archiver_reads_and_acknowledges_a_batch_in_chunks(
        redis_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch larger than READ_CHUNK is read in several short calls and still written
    as one file, then acknowledged whole (in chunks too)."""
    import endcap.stream.archive as archive

    monkeypatch.setattr(archive, "READ_CHUNK", 100)
    root = tmp_path / "archive"
    url = redis_url(redis_server, shards="1", archive=f"file://{root}")

    async def go() -> None:
        store = await open_redis(url)
        await store.append("shop", [view(n) for n in range(450)])
        archiver = Archiver(store, archive_options("a", archive_batch=5_000), StreamMetrics())
        assert await archiver.visit("shop", 0, asyncio.Event())
        files = list(root.rglob("*.parquet"))
        assert len(files) == 1 and pl.read_parquet(files[0]).height == 450
        assert await group_backlog(store, "shop", ARCHIVE) == (0, 0)
        await archiver.release()
        await store.close()

    run(go())


class CrashingArchiver(Archiver):
    """Dies between writing a batch's files and acknowledging it."""

    async def _ack(self, key: str, ids: Any) -> None:
        raise RuntimeError("killed before XACK")


def test_archiver_crash_between_write_and_ack_duplicates_nothing(redis_server: str,
                                                                tmp_path: Path) -> None:
    root = tmp_path / "archive"
    url = redis_url(redis_server, shards="1", archive=f"file://{root}")
    events = [view(n, day=n // 600) for n in range(1_200)]  # two days

    async def go() -> None:
        store = await open_redis(url)
        key = store.keys.stream("shop", 0)
        await store.append("shop", events[:1_000])
        stop = asyncio.Event()
        crashed = CrashingArchiver(store, archive_options("a", archive_batch=5_000),
                                   StreamMetrics())
        assert not await crashed.visit("shop", 0, stop)
        first = sorted(p.name for p in root.rglob("*.parquet"))
        assert len(first) == 2 and await group_backlog(store, "shop", ARCHIVE) == (1_000, 0)

        await store.append("shop", events[1_000:])
        await store.client.delete(crashed.lease_key("shop", 0))  # its lease expires
        archiver = Archiver(store, archive_options("b", archive_batch=5_000), StreamMetrics())
        assert await archiver.visit("shop", 0, stop)
        assert await group_backlog(store, "shop", ARCHIVE) == (0, 0)
        files = sorted(p.name for p in root.rglob("*.parquet"))
        assert set(first) <= set(files) and len(files) == 3  # rewritten, plus the new one
        rows = parquet_rows(root)
        assert rows.height == rows["event_id"].n_unique() == 1_200
        assert [e.event_id for e in read_archive(f"file://{root}", "shop")] == \
            [e.event_id for e in events]
        assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]
        assert await store.client.xlen(key) == 1_200  # nothing applied: nothing trimmed
        await store.close()

    run(go())


def test_sigterm_finishes_the_batches_in_hand(redis_server: str, workers: Workers) -> None:
    """SIGTERM while a worker holds applied but unacknowledged batches: it acknowledges
    them before it exits (status 0), so nothing waits for another worker to reclaim it."""
    url = redis_url(redis_server)
    events = [view(n, shoppers=200) for n in range(2_000)]

    async def go() -> None:
        store = await open_redis(url)
        keys = [store.keys.stream("shop", s) for s in range(store.keys.shards)]
        # Each batch is applied, then held 3 s before its XACK: SIGTERM lands there.
        w = workers.start(url, "w", "--batch", "100", "--metrics-port", "0",
                          ENDCAP_TEST_STREAM_ACK_DELAY="3")

        async def ready() -> bool:
            assert w.poll() is None, workers.log("w")
            infos = [await store.client.xinfo_groups(k) if await store.client.exists(k)
                     else [] for k in keys]
            return all(any(g["name"] == b"apply" for g in i) for i in infos)

        await wait_until(ready, "the worker's consumer groups")
        assert sum(await store.append("shop", events)) == len(events)

        async def in_hand() -> bool:
            return workers.log("w").count("test hook") >= len(keys)

        await wait_until(in_hand, "the worker holding a batch of every stream")
        pending = (await group_backlog(store, "shop", APPLY))[0]
        assert pending > 0
        w.send_signal(signal.SIGTERM)
        assert w.wait(60) == 0, workers.log("w")
        pending_after, _ = await group_backlog(store, "shop", APPLY)
        assert pending_after == 0, "a batch in hand was left unacknowledged"
        applied = await counted(store, "shop", events)
        assert applied >= pending  # what it held was applied, once
        assert applied == len(events) - (await group_backlog(store, "shop", APPLY))[1]
        await store.close()

    run(go())
