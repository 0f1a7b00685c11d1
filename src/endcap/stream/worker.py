"""``endcap stream``: consumer-group members that fold the event streams into real-time
state (shopper histories, purchases, hourly counters, co-occurrence pairs).

Every tenant has ``shards`` streams; each is read by the ``apply`` consumer group, whose
members are all the ``endcap stream`` processes: Redis hands each new entry to one of
them. A process runs one asyncio task per stream, which reads a batch (XREADGROUP),
applies it (:meth:`RedisStore.apply`, one Lua call, idempotent by ``event_id``) and then
acknowledges it (XACK). Delivery is at least once, the effect exactly once: a batch
whose worker died before XACK stays pending, and after ``claim_idle`` seconds another
member claims it (XAUTOCLAIM) and applies it again, which changes nothing twice.

A blocking read holds a connection of the store's pool for up to ``block_ms``, so at
most half the pool reads at a time. With more streams than that, a process polls them
instead of blocking (an empty stream is looked at again after ``block_ms``).

When the store URL names an archive, the process also runs an archiver
(:mod:`endcap.stream.archive`), which trims each stream once its entries are both
applied and archived.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import redis.exceptions as rexc

from endcap.events.model import Event
from endcap.store.redis import DOWN, RedisStore, StoreUnavailable
from endcap.stream.archive import Archiver
from endcap.stream.groups import (
    APPLY,
    ARCHIVE,
    FORGET,
    Backoff,
    Entry,
    Outage,
    autoclaim,
    ensure_group,
    forget_idle_consumers,
    group_infos,
    id_time,
    read_group,
    sleep_unless,
)
from endcap.stream.metrics import StreamMetrics

log = logging.getLogger("endcap.stream")

#: Failures worth waiting out: the store is not answering now.
TRANSIENT: tuple[type[BaseException], ...] = (StoreUnavailable, *DOWN)
#: How often each stream's group is checked for consumers that are long gone.
FORGET_EVERY = 60.0

_event_dec = msgspec.msgpack.Decoder(Event)


def default_consumer() -> str:
    """``<hostname>-<pid>``: unique per live process."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """How one ``endcap stream`` process consumes."""

    consumer: str = field(default_factory=default_consumer)
    #: Entries per read and per apply.
    batch: int = 500
    #: How long a read waits for new entries (capped below the store's socket timeout).
    block_ms: int = 1000
    #: Entries pending this long with another consumer are taken over.
    claim_idle: float = 30.0
    #: How often the tenant list is read again (new tenants' streams are picked up).
    tenant_poll: float = 5.0
    #: Consumers idle this long with nothing pending are removed from the group.
    forget_after: float = 3600.0
    #: Archive: entries per file batch, and the most an entry waits to be archived.
    archive_batch: int = 50_000
    archive_interval: float = 60.0
    #: Test hook: seconds to wait between applying a batch and acknowledging it.
    ack_delay: float = 0.0

    @property
    def claim_every(self) -> float:
        return max(0.1, min(5.0, self.claim_idle / 2))


def _connection_setting(client: Any, name: str) -> Any:
    pool = getattr(client, "connection_pool", None)
    if pool is not None and name == "max_connections":
        return getattr(pool, "max_connections", None)
    return client.get_connection_kwargs().get(name)


class StreamWorker:
    """The ``apply`` group's member in one process: a task per (tenant, shard) stream."""

    def __init__(self, store: RedisStore, options: StreamOptions,
                 metrics: StreamMetrics | None = None) -> None:
        self.store = store
        self.client = store.client
        self.keys = store.keys
        self.options = options
        self.metrics = metrics or StreamMetrics()
        self._apply_latency = self.metrics.store_latency.labels("apply")
        self._ack_latency = self.metrics.store_latency.labels("ack")
        self.outage = Outage()
        self._forget = self.client.register_script(FORGET)
        self._tasks: dict[tuple[str, int], asyncio.Task[None]] = {}
        pool = _connection_setting(self.client, "max_connections") or 64
        self.readers = max(1, min(64, int(pool) // 2))
        self._read_slots = asyncio.Semaphore(self.readers)
        timeout = _connection_setting(self.client, "socket_timeout")
        self.block_ms = options.block_ms
        if timeout is not None and options.block_ms > timeout * 800:
            # A read blocked longer than the socket timeout would fail as a timeout.
            self.block_ms = max(1, int(timeout * 800))
            log.info("reads block %d ms, below the store URL's timeout of %.2f s",
                     self.block_ms, timeout)
        self.archiver = None if store.archive is None else \
            Archiver(store, options, self.metrics)

    def streams(self) -> list[tuple[str, int]]:
        """The (tenant, shard) streams being consumed."""
        return list(self._tasks)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then finish the batches in hand and return."""
        archiving = None
        if self.archiver is None:
            log.warning("the store URL names no archive (archive=file:///dir): the event "
                        "streams are never trimmed and grow without bound")
        else:
            archiving = asyncio.create_task(self.archiver.run(stop, self.streams),
                                            name="endcap-archiver")
        try:
            while not stop.is_set():
                await self._discover(stop)
                await sleep_unless(stop, self.options.tenant_poll)
        finally:
            stop.set()
            tasks = [*self._tasks.values(), *([archiving] if archiving else [])]
            if tasks:
                _, late = await asyncio.wait(tasks, timeout=self.block_ms / 1000 + 30)
                for t in late:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _discover(self, stop: asyncio.Event) -> None:
        try:
            tenants = await self.store.list_tenants()
        except TRANSIENT as e:
            self.metrics.store_errors.inc()
            self.outage.failed("listing tenants", e)
            return
        for t in tenants:
            for shard in range(self.keys.shards):
                task = self._tasks.get((t.id, shard))
                if task is not None and not task.done():
                    continue
                if task is not None:  # cannot happen: a consumer never raises
                    log.error("stream %s:%d consumer ended; restarting it", t.id, shard)
                elif shard == 0:
                    log.info("consuming tenant %s (%d streams)", t.id, self.keys.shards)
                self._tasks[(t.id, shard)] = asyncio.create_task(
                    self._consume(t.id, shard, stop), name=f"endcap-stream-{t.id}-{shard}")

    def _polling(self) -> bool:
        return len(self._tasks) > self.readers

    async def _consume(self, tenant: str, shard: int, stop: asyncio.Event) -> None:
        key = self.keys.stream(tenant, shard)
        backoff = Backoff()
        ready = False
        start = "0"  # this consumer's own pending entries first, then new ones (">")
        now = time.monotonic()
        next_claim = now + random.uniform(0, self.options.claim_every)
        next_forget = now + random.uniform(0, FORGET_EVERY)
        while not stop.is_set():
            try:
                if not ready:
                    await ensure_group(self.client, key, APPLY)
                    ready = True
                now = time.monotonic()
                if now >= next_claim:
                    next_claim = now + self.options.claim_every
                    await self._reclaim(tenant, key, stop)
                    await self._report(tenant, shard, key)
                if now >= next_forget:
                    next_forget = now + FORGET_EVERY
                    await self._forget_dead(key)
                entries = await self._read(key, start)
                if start != ">":
                    start = entries[-1][0].decode() if entries else ">"
                if entries:
                    await self.handle(tenant, key, entries)
                elif start == ">" and self._polling():
                    await sleep_unless(stop, self.block_ms / 1000)
                backoff.reset()
                self.outage.ok()
            except TRANSIENT as e:
                self.metrics.store_errors.inc()
                self.outage.failed(f"stream {key}", e)
                start = "0"
                await sleep_unless(stop, backoff.next())
            except rexc.ResponseError as e:
                if "NOGROUP" in str(e):  # the stream was deleted: start it afresh
                    ready = False
                else:
                    log.exception("stream %s: Redis refused a call; retrying", key)
                start = "0"
                await sleep_unless(stop, backoff.next())
            except Exception:
                log.exception("stream %s: unexpected error; retrying", key)
                start = "0"
                await sleep_unless(stop, backoff.next())

    async def _read(self, key: str, start: str) -> list[Entry]:
        block = self.block_ms if start == ">" and not self._polling() else None
        async with self._read_slots:
            return await read_group(self.client, key, APPLY, self.options.consumer, start,
                                    self.options.batch, block)

    async def handle(self, tenant: str, key: str, entries: Sequence[Entry],
                     reclaimed: bool = False) -> None:
        """Apply a batch of one stream's entries, then acknowledge all of them (entries
        that are not events included: they are counted, logged and skipped)."""
        events: list[Event] = []
        appended: list[float] = []
        bad = 0
        for sid, fields in entries:
            if fields is None:
                continue  # trimmed since delivery, so it was applied before
            try:
                events.append(_event_dec.decode(fields[b"e"]))
                appended.append(id_time(sid))
            except (KeyError, TypeError, msgspec.DecodeError) as e:
                bad += 1
                log.warning("stream %s: entry %s is not an event (%s); acknowledged and "
                            "skipped", key, sid.decode(), e)
        applied, failed = await self._apply(tenant, key, events)
        done = time.time()
        m = self.metrics
        m.events["applied"].inc(applied)
        m.events["repeat"].inc(len(events) - applied - failed)
        m.events["bad"].inc(bad + failed)
        if reclaimed:
            m.events["reclaimed"].inc(len(entries))
        for t in appended:
            m.effect.observe(max(0.0, done - t))
        if self.options.ack_delay:
            log.warning("test hook: %d entries of %s applied; acknowledging in %.1f s",
                        len(entries), key, self.options.ack_delay)
            await asyncio.sleep(self.options.ack_delay)
        started = time.perf_counter()
        await self.client.xack(key, APPLY, *[sid for sid, _ in entries])
        self._ack_latency.observe(time.perf_counter() - started)

    async def _apply(self, tenant: str, key: str, events: list[Event]) -> tuple[int, int]:
        """(applied now, failed for good). A batch the store refuses for a reason other
        than an outage is applied event by event, so one bad event cannot wedge it."""
        if not events:
            return 0, 0
        started = time.perf_counter()
        try:
            applied = await self.store.apply(tenant, events)
            self._apply_latency.observe(time.perf_counter() - started)
            return applied, 0
        except TRANSIENT:
            raise
        except Exception:
            log.exception("stream %s: a batch of %d failed to apply; applying one by one",
                          key, len(events))
        applied = failed = 0
        for e in events:
            try:
                applied += await self.store.apply(tenant, [e])
            except TRANSIENT:
                raise
            except Exception as err:
                failed += 1
                log.error("stream %s: event %r cannot be applied (%s); acknowledged and "
                          "skipped", key, e.event_id, err)
        return applied, failed

    async def _reclaim(self, tenant: str, key: str, stop: asyncio.Event) -> None:
        """Take over entries another consumer read ``claim_idle`` seconds ago and never
        acknowledged (it died, or is stuck), and apply them."""
        start = "0-0"
        for _ in range(100):
            start, entries = await autoclaim(
                self.client, key, APPLY, self.options.consumer,
                int(self.options.claim_idle * 1000), start, self.options.batch)
            if entries:
                log.info("stream %s: reclaimed %d entries pending over %.0f s", key,
                         len(entries), self.options.claim_idle)
                await self.handle(tenant, key, entries, reclaimed=True)
            if start == "0-0" or stop.is_set():
                return

    async def _report(self, tenant: str, shard: int, key: str) -> None:
        for name, info in (await group_infos(self.client, key)).items():
            if name in (APPLY, ARCHIVE):
                self.metrics.backlog(tenant, name, shard, info.pending, info.lag or 0)

    async def _forget_dead(self, key: str) -> None:
        for group in (APPLY, ARCHIVE):
            try:
                gone = await forget_idle_consumers(self.client, self._forget, key, group,
                                                   self.options.consumer,
                                                   self.options.forget_after)
            except rexc.ResponseError:
                continue  # no such group (yet)
            if gone:
                log.info("stream %s: removed idle consumers %s from %s", key,
                         ", ".join(gone), group)


async def serve_stream(store: RedisStore, options: StreamOptions, *,
                       metrics_host: str = "127.0.0.1", metrics_port: int = 9464) -> None:
    """Run a :class:`StreamWorker` (and the archiver) until SIGTERM or SIGINT, serving
    its metrics on ``metrics_port`` (0: not served)."""
    from prometheus_client import start_http_server

    metrics = StreamMetrics()
    server = None
    if metrics_port:
        try:
            server, _ = start_http_server(metrics_port, addr=metrics_host,
                                          registry=metrics.registry)
        except OSError as e:
            raise SystemExit(f"endcap: cannot serve metrics on {metrics_host}:"
                             f"{metrics_port}: {e}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = StreamWorker(store, options, metrics)
    log.info("stream worker %s: batch %d, reads block %d ms, claim after %.1f s%s",
             options.consumer, options.batch, worker.block_ms, options.claim_idle,
             f", archiving to {store.archive}" if store.archive else "")
    try:
        await worker.run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if server is not None:
            server.shutdown()
        log.info("stream worker %s stopped", options.consumer)
