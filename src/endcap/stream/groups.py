"""Redis Streams consumer-group plumbing shared by the stream worker and the archiver.

Every call names one stream, so in a Redis Cluster it goes to that stream's slot.
Replies are read in both RESP2 (lists) and RESP3 (maps) shapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import redis.exceptions as rexc

log = logging.getLogger("endcap.stream")

#: The consumer group that folds events into real-time state.
APPLY = "apply"
#: The consumer group that writes events to the Parquet archive.
ARCHIVE = "archive"

#: XGROUP DELCONSUMER only if the consumer still has nothing pending, atomically (a
#: consumer that read entries in between keeps them). KEYS: stream. ARGV: group, name.
FORGET = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return -1 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
"""

Entry = tuple[bytes, dict[bytes, bytes] | None]


def id_time(stream_id: bytes) -> float:
    """The moment (epoch seconds) Redis appended the entry, from its id."""
    return int(stream_id.split(b"-", 1)[0]) / 1000.0


def id_key(stream_id: bytes | str) -> tuple[int, int]:
    """A stream id as a sortable (milliseconds, sequence) pair."""
    raw = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = raw.partition("-")
    return int(ms), int(seq or 0)


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


async def ensure_group(client: Any, key: str, group: str) -> None:
    """Create ``group`` on the stream (and the stream) from its first entry, if absent."""
    try:
        await client.xgroup_create(key, group, id="0", mkstream=True)
    except rexc.ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise


async def read_group(client: Any, key: str, group: str, consumer: str, start: str,
                     count: int, block_ms: int | None) -> list[Entry]:
    """XREADGROUP on one stream: ``start`` ``>`` for new entries, ``0`` (or an id) for
    this consumer's own pending ones. Entries trimmed since delivery come back with
    ``None`` fields."""
    reply = await client.xreadgroup(group, consumer, {key: start}, count=count,
                                    block=block_ms)
    if not reply:
        return []
    # RESP3 replies {stream: [entries]}, RESP2 [[stream, entries]].
    rows = next(iter(reply.values()))[0] if isinstance(reply, dict) else reply[0][1]
    return [(sid, fields) for sid, fields in rows]


async def autoclaim(client: Any, key: str, group: str, consumer: str, min_idle_ms: int,
                    start: str, count: int) -> tuple[str, list[Entry]]:
    """One XAUTOCLAIM step: the next cursor (``0-0`` when done) and the claimed entries.
    Pending entries that were trimmed are dropped from the group by Redis itself."""
    reply = await client.xautoclaim(key, group, consumer, min_idle_ms, start, count=count)
    nxt, rows = reply[0], reply[1]
    return _text(nxt), [(sid, fields) for sid, fields in rows]


@dataclass(slots=True)
class GroupInfo:
    name: str
    pending: int
    last_delivered: str
    lag: int | None


async def group_infos(client: Any, key: str) -> dict[str, GroupInfo]:
    """XINFO GROUPS of one stream, by group name."""
    out = {}
    for g in await client.xinfo_groups(key):
        g = {_text(k): v for k, v in g.items()}
        lag = g.get("lag")
        info = GroupInfo(_text(g["name"]), int(g["pending"]), _text(g["last-delivered-id"]),
                         None if lag is None else int(lag))
        out[info.name] = info
    return out


async def forget_idle_consumers(client: Any, forget: Any, key: str, group: str,
                                me: str, idle_seconds: float) -> list[str]:
    """Remove the group's consumers (other than ``me``) idle for ``idle_seconds`` with
    nothing pending: dead workers' names. Returns the names removed."""
    gone = []
    for c in await client.xinfo_consumers(key, group):
        c = {_text(k): v for k, v in c.items()}
        name = _text(c["name"])
        if name == me or int(c["pending"]) > 0 or int(c["idle"]) < idle_seconds * 1000:
            continue
        if int(await forget(keys=[key], args=[group, name])) >= 0:
            gone.append(name)
    return gone


class Backoff:
    """Exponential back-off with jitter, from ``base`` up to ``cap`` seconds."""

    def __init__(self, base: float = 0.1, cap: float = 5.0) -> None:
        self.base, self.cap, self.n = base, cap, 0

    def next(self) -> float:
        self.n += 1
        step: float = self.base * 2.0 ** min(self.n - 1, 16)
        return min(self.cap, step) * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.n = 0


class Outage:
    """Logs a store outage once when it starts (and every ``every`` seconds while it
    lasts), and once when the store answers again, however many tasks see it."""

    def __init__(self, every: float = 30.0) -> None:
        self.every = every
        self.since: float | None = None
        self._logged = 0.0

    def failed(self, what: str, e: BaseException) -> None:
        now = time.monotonic()
        if self.since is None:
            self.since = now
        if now - self._logged >= self.every:
            self._logged = now
            log.warning("%s: the store is unavailable (%s); retrying", what, e)

    def ok(self) -> None:
        if self.since is not None:
            log.warning("the store answers again after %.1f s",
                        time.monotonic() - self.since)
            self.since = None
            self._logged = 0.0


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    if seconds <= 0 or stop.is_set():
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
