"""Consumed events as Parquet files, partitioned by tenant and day.

``endcap stream`` runs an :class:`Archiver` when the store URL names an archive
(``archive=file:///dir``). It is the ``archive`` consumer group of every shard stream:
it reads entries in large batches and writes each batch as one file per day of the
events' timestamps::

    <dir>/tenant=<t>/day=<YYYY-MM-DD>/<shard>-<first stream id>-<last stream id>.parquet

then acknowledges the batch and trims the stream below the lowest entry that either
group (``apply`` or ``archive``) still needs. So an entry leaves Redis only once it is
both applied and on disk, and without an archive nothing is trimmed.

One archiver works on a stream at a time: it holds a lease on the stream (renewed on
every visit, so several ``endcap stream`` processes share the streams between them).
A file is written under a temporary name, flushed and renamed, so it is whole or
absent. A batch is acknowledged only after its files are on disk; an archiver that
dies in between leaves the batch pending, and the next lease holder claims exactly
that batch and writes the same files again, over the old ones: no event is archived
twice. :func:`read_archive` also drops repeated ``event_id``s, whatever happened.

Only ``file://`` archives exist today. Paths go through :class:`ArchiveTarget`, and
polars reads and writes ``s3://`` itself, so an S3 target is one more class.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import msgspec
import polars as pl

from endcap.events.model import Event
from endcap.stream.groups import (
    APPLY,
    ARCHIVE,
    Backoff,
    Entry,
    Outage,
    autoclaim,
    ensure_group,
    group_infos,
    id_key,
    id_time,
    read_group,
    sleep_unless,
)
from endcap.stream.metrics import StreamMetrics

if TYPE_CHECKING:
    from endcap.store.redis import RedisStore
    from endcap.stream.worker import StreamOptions

log = logging.getLogger("endcap.stream.archive")

#: The Parquet columns: every :class:`Event` field, then the entry's stream id.
LINE = pl.Struct({"id": pl.String, "quantity": pl.Int64, "price": pl.Float64})
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(), "type": pl.String(), "user_id": pl.String(),
    "session_id": pl.String(), "item_id": pl.String(), "items": pl.List(LINE),
    "query": pl.String(), "revenue": pl.Float64(), "timestamp": pl.Float64(),
    "pod_id": pl.String(), "result_id": pl.String(), "variant": pl.String(),
}
STREAM_ID = "stream_id"

#: Renews (1) or takes (2) a stream's archiver lease, or reports it taken (0).
#: KEYS: lease. ARGV: owner, milliseconds.
LEASE = """
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if cur then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 2
"""
#: KEYS: lease. ARGV: owner.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
#: Trims the stream below the lowest id any consumer group still needs: a group's first
#: pending entry, else its last-delivered one. Trims nothing unless every group named
#: in ARGV exists. KEYS: stream. Returns how many entries were removed.
TRIM = """
local function less(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local need, found, low = {}, 0, nil
for i = 1, #ARGV do need[ARGV[i]] = true end
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local f = {}
  for j = 1, #g, 2 do f[g[j]] = g[j + 1] end
  if need[f['name']] then found = found + 1 end
  local keep = f['last-delivered-id']
  if f['pending'] > 0 then
    keep = redis.call('XPENDING', KEYS[1], f['name'], '-', '+', 1)[1][1]
  end
  if low == nil or less(keep, low) then low = keep end
end
if found < #ARGV or low == nil then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', low)
"""

#: Entries per XREADGROUP, XAUTOCLAIM or XACK call of the archiver.
READ_CHUNK = 2_000
#: The nice value of the thread that encodes and writes archive files.
WRITER_NICE = 10

_event_dec = msgspec.msgpack.Decoder(Event)
_events_json = msgspec.json.Decoder(list[Event])
_json = msgspec.json.Encoder()


class ArchiveError(Exception):
    """The archive could not be written or read; the message says where and why."""


class ArchiveTarget(Protocol):
    """Where archive files live. ``path`` strings are what polars reads."""

    storage_options: dict[str, Any] | None

    def write(self, tenant: str, day: str, name: str, frame: pl.DataFrame) -> str:
        """Write ``frame`` whole (or not at all) as ``tenant=<t>/day=<day>/<name>``,
        replacing a file of that name; durable when this returns."""

    def files(self, tenant: str) -> list[str]:
        """Every archive file of the tenant."""


class FileArchive:
    """An archive in a local (or mounted) directory."""

    storage_options: dict[str, Any] | None = None

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, tenant: str, day: str, name: str, frame: pl.DataFrame) -> str:
        folder = self.root / f"tenant={tenant}" / f"day={day}"
        final = folder / name
        tmp = folder / f".{name}.{uuid.uuid4().hex}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # A write of this very batch that died half-way left its temporary file.
            for stale in folder.glob(f".{name}.*.tmp"):
                stale.unlink(missing_ok=True)
            frame.write_parquet(tmp, compression="zstd")
            with tmp.open("rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, final)
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise ArchiveError(f"cannot write {final}: {e}") from e
        return str(final)

    def files(self, tenant: str) -> list[str]:
        return sorted(str(p) for p in (self.root / f"tenant={tenant}").glob("day=*/*.parquet"))


def open_archive(url: str) -> ArchiveTarget:
    """The archive an ``archive=`` URL names."""
    parts = urlsplit(url)
    if parts.scheme == "file" and (parts.netloc + parts.path):
        return FileArchive(Path(parts.netloc + parts.path).expanduser())
    raise ArchiveError(f"unsupported archive URL {url!r}: use file:///dir")


# -- frames -----------------------------------------------------------------------------


def events_frame(entries: Sequence[tuple[bytes, Event]]) -> pl.DataFrame:
    """The archive columns of (stream id, event) pairs, in the given order."""
    events = [e if not isinstance(e.timestamp, datetime)
              else msgspec.structs.replace(e, timestamp=e.timestamp.timestamp())
              for _, e in entries]
    frame = pl.read_ndjson(io.BytesIO(_json.encode_lines(events)), schema=EVENT_SCHEMA)
    return frame.with_columns(
        # A line's quantity is left out of the encoding when it is the default.
        pl.col("items").list.eval(
            pl.element().struct.with_fields(pl.field("quantity").fill_null(1))),
        pl.Series(STREAM_ID, [sid.decode() for sid, _ in entries], dtype=pl.String),
    )


def frame_events(frame: pl.DataFrame) -> list[Event]:
    """The events of archive rows, in row order."""
    frame = frame.drop(STREAM_ID, strict=False)
    # Columns no row uses need not be decoded at all.
    frame = frame.select(c for c in frame.columns if frame[c].null_count() < frame.height)
    return _events_json.decode(frame.write_json()) if frame.height else []


def write_batch(target: ArchiveTarget, tenant: str, shard: int,
                entries: Sequence[tuple[bytes, Event]]) -> list[str]:
    """Write one batch of a shard's entries: one file per day of the events' time (the
    entry's own time when an event has none). The same batch always gives the same
    file names. Returns the files written."""
    ordered = sorted(entries, key=lambda p: id_key(p[0]))
    frame = events_frame(ordered)
    appended = pl.col(STREAM_ID).str.split("-").list.first().cast(pl.Float64) / 1000
    seconds = pl.col("timestamp").fill_null(appended)
    day = pl.from_epoch((seconds * 1000).cast(pl.Int64), time_unit="ms").dt.strftime("%Y-%m-%d")
    written = []
    for key, part in frame.with_columns(day.alias("_day")).partition_by(
            "_day", as_dict=True, maintain_order=True).items():
        part = part.drop("_day")
        ids = part[STREAM_ID]
        name = f"{shard}-{ids[0]}-{ids[-1]}.parquet"
        written.append(target.write(tenant, str(key[0]), name, part))
    return written


def read_archive(url: str, tenant: str) -> list[Event]:
    """Every archived event of ``tenant``, each ``event_id`` once, oldest first (by the
    time the stream took it in)."""
    target = open_archive(url)
    files = target.files(tenant)
    if not files:
        return []
    parts = pl.col(STREAM_ID).str.split_exact("-", 1)
    frame = (
        pl.scan_parquet(files, hive_partitioning=False, missing_columns="insert",
                        storage_options=target.storage_options)
        .with_columns(parts.struct.field("field_0").cast(pl.UInt64).alias("_ms"),
                      parts.struct.field("field_1").cast(pl.UInt64).alias("_seq"))
        .sort(["_ms", "_seq"], maintain_order=True)
        .unique(subset="event_id", keep="first", maintain_order=True)
        .drop(["_ms", "_seq"])
        .collect()
    )
    return frame_events(frame)


# -- the archiver -----------------------------------------------------------------------


class LeaseLost(Exception):
    """Another archiver took the stream over; the batch in hand is left to it."""


class Archiver:
    """The ``archive`` consumer group's member in one ``endcap stream`` process."""

    def __init__(self, store: RedisStore, options: StreamOptions, metrics: StreamMetrics,
                 target: ArchiveTarget | None = None) -> None:
        from endcap.store.redis import DOWN, StoreUnavailable

        if target is None and store.archive is None:
            raise ArchiveError("the store URL names no archive")
        self.store = store
        self.client = store.client
        self.keys = store.keys
        self.target = target or open_archive(str(store.archive))
        self.options = options
        self.metrics = metrics
        self.me = options.consumer
        #: How often each stream is looked at.
        self.tick = max(0.1, min(5.0, options.archive_interval / 2))
        self.lease_ms = int(max(30.0, 6 * self.tick) * 1000)
        self.transient: tuple[type[BaseException], ...] = (StoreUnavailable, *DOWN)
        self._lease = self.client.register_script(LEASE)
        self._release = self.client.register_script(RELEASE)
        self._trim = self.client.register_script(TRIM)
        self._held: set[tuple[str, int]] = set()
        self.outage = Outage()
        #: Files are encoded on one thread of lower priority: archiving is background
        #: work that must not take CPU from the apply loop or a Redis on the same host.
        self._writer: ThreadPoolExecutor | None = None

    def lease_key(self, tenant: str, shard: int) -> str:
        return self.keys.shard_tag(tenant, shard) + ":archiver"

    async def run(self, stop: asyncio.Event,
                  streams: Callable[[], Sequence[tuple[str, int]]]) -> None:
        """Visit every stream ``streams()`` names, every ``tick`` seconds, until ``stop``."""
        backoff = Backoff()
        try:
            while not stop.is_set():
                failed = False
                for tenant, shard in list(streams()):
                    if stop.is_set():
                        break
                    failed |= not await self.visit(tenant, shard, stop)
                if not failed:
                    backoff.reset()
                    self.outage.ok()
                await sleep_unless(stop, backoff.next() if failed else self.tick)
        finally:
            await self.release()

    async def visit(self, tenant: str, shard: int, stop: asyncio.Event) -> bool:
        """Archive what is due on one stream and trim it; never raises. False if it
        failed (and will be retried)."""
        key = self.keys.stream(tenant, shard)
        try:
            await self._visit(tenant, shard, key, stop)
            return True
        except LeaseLost:
            log.warning("stream %s: the archiver lease was lost; leaving the batch", key)
        except self.transient as e:
            self.metrics.store_errors.inc()
            self.outage.failed(f"archiving {key}", e)
        except Exception:
            log.exception("stream %s: archiving failed; retrying", key)
        # What was read and not acknowledged is claimed again before anything new.
        self._held.discard((tenant, shard))
        return False

    async def _visit(self, tenant: str, shard: int, key: str, stop: asyncio.Event) -> None:
        got = int(await self._lease(keys=[self.lease_key(tenant, shard)],
                                    args=[self.me, self.lease_ms]))
        if not got:
            self._held.discard((tenant, shard))
            return
        if got == 2 or (tenant, shard) not in self._held:
            await ensure_group(self.client, key, ARCHIVE)
            await self._recover(tenant, shard, key)
            self._held.add((tenant, shard))
        for _ in range(100):  # bounded: a long backlog is worked off over several visits
            if stop.is_set() or not await self._due(key):
                break
            entries = await self._read_batch(key)
            if not entries:
                break
            await self._archive(tenant, shard, key, entries)
            if len(entries) < self.options.archive_batch:
                break
        trimmed = int(await self._trim(keys=[key], args=[APPLY, ARCHIVE]))
        if trimmed:
            self.metrics.trimmed.inc(trimmed)

    async def _read_batch(self, key: str) -> list[Entry]:
        """Up to ``archive_batch`` new entries, read :data:`READ_CHUNK` at a time: one
        XREADGROUP of 50,000 entries would hold Redis (and every shopper-history read
        behind it) for tens of milliseconds."""
        batch: list[Entry] = []
        while len(batch) < self.options.archive_batch:
            want = min(READ_CHUNK, self.options.archive_batch - len(batch))
            got = await read_group(self.client, key, ARCHIVE, self.me, ">", want, None)
            batch += got
            if len(got) < want:
                break
        return batch

    async def _recover(self, tenant: str, shard: int, key: str) -> None:
        """Claim and archive what the group's consumers read and never acknowledged: the
        one batch a previous holder had in hand, so it gets the same file names."""
        claimed: list[Entry] = []
        start = "0-0"
        for _ in range(1_000):
            start, entries = await autoclaim(self.client, key, ARCHIVE, self.me, 0, start,
                                             READ_CHUNK)
            claimed += entries
            if start == "0-0":
                break
        if claimed:
            log.info("stream %s: archiving again %d entries left unacknowledged", key,
                     len(claimed))
            await self._archive(tenant, shard, key, claimed)

    async def _due(self, key: str) -> bool:
        """Whether to archive now: a full batch waits, or the oldest entry not yet
        archived is ``archive_interval`` old."""
        info = (await group_infos(self.client, key)).get(ARCHIVE)
        if info is None or info.lag == 0:
            return False
        if info.lag is None or info.lag >= self.options.archive_batch \
                or self.options.archive_interval <= 0:
            return True
        first = await self.client.xrange(key, min="(" + info.last_delivered, count=1)
        return bool(first) and time.time() - id_time(first[0][0]) >= \
            self.options.archive_interval

    async def _archive(self, tenant: str, shard: int, key: str,
                       entries: Sequence[Entry]) -> None:
        good: list[tuple[bytes, Event]] = []
        for sid, fields in entries:
            if fields is None:
                continue  # trimmed since it was read: it was archived before
            try:
                good.append((sid, _event_dec.decode(fields[b"e"])))
            except (KeyError, TypeError, msgspec.DecodeError) as e:
                log.warning("stream %s: entry %s is not an event (%s); not archived",
                            key, sid.decode(), e)
        if good:
            # Fencing: write only while the lease is still ours.
            if int(await self._lease(keys=[self.lease_key(tenant, shard)],
                                     args=[self.me, self.lease_ms])) != 1:
                raise LeaseLost(key)
            if self._writer is None:
                self._writer = ThreadPoolExecutor(1, "endcap-archive",
                                                  initializer=_lower_priority)
            files = await asyncio.get_running_loop().run_in_executor(
                self._writer, write_batch, self.target, tenant, shard, good)
            self.metrics.archive_files.inc(len(files))
            self.metrics.archived.inc(len(good))
            log.debug("stream %s: archived %d events in %s", key, len(good), files)
        await self._ack(key, [sid for sid, _ in entries])

    async def _ack(self, key: str, ids: Sequence[bytes]) -> None:
        for a in range(0, len(ids), READ_CHUNK):  # short calls: see _read_batch
            await self.client.xack(key, ARCHIVE, *ids[a:a + READ_CHUNK])

    async def release(self) -> None:
        """Give up this process's leases, so another archiver takes over at once."""
        for tenant, shard in list(self._held):
            with contextlib.suppress(*self.transient):  # else it expires by itself
                await self._release(keys=[self.lease_key(tenant, shard)], args=[self.me])
        self._held.clear()
        if self._writer is not None:
            self._writer.shutdown(wait=False)
            self._writer = None


def _lower_priority() -> None:
    """Run the calling thread at nice :data:`WRITER_NICE` (Linux: per thread)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WRITER_NICE)
