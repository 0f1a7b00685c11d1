"""The Redis back-end: shared state for many ``serve`` replicas and ``stream`` workers.

Redis (or Valkey), standalone or Redis Cluster. Every multi-key write is one Lua script
within one hash-tag slot (see :mod:`endcap.store.keys`), so it is whole or absent.
Events are appended to per-shard Redis Streams; ``endcap stream`` workers fold them
into shopper histories and counters (:meth:`RedisStore.apply`), idempotently.

Hot, rarely-changing data (credentials, pods, item records) is cached in-process
(:mod:`endcap.store.local_cache`) and invalidated from a per-tenant change stream
that every process reads at most every ``sync_seconds``. A recommendations request
whose pod and items are cached costs one round trip: the shoppers' histories, read by
one pipeline over a multiplexed connection (:mod:`endcap.store.fastpath`), or on a
cluster by one pipeline per shopper's node.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from operator import itemgetter
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

import msgspec
import redis.asyncio as aioredis
import redis.exceptions as rexc
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from endcap.catalog.model import Item, ItemPatch, apply_patch
from endcap.errors import Unavailable
from endcap.events.model import Event
from endcap.pods.model import Pod
from endcap.store import scripts
from endcap.store.fastpath import MuxConnection
from endcap.store.keys import Keys
from endcap.store.local_cache import LocalCache
from endcap.store.protocol import ArtifactKind, Credential, Tenant
from endcap.stream.history import HISTORY_TYPES, MAX_EVENTS, MAX_PURCHASED, ShopperHistory

log = logging.getLogger("endcap.store.redis")

P = ParamSpec("P")
T = TypeVar("T")

_enc = msgspec.msgpack.Encoder()
_item_dec = msgspec.msgpack.Decoder(Item)
_event_dec = msgspec.msgpack.Decoder(Event)
_pod_dec = msgspec.msgpack.Decoder(Pod)
_tenant_dec = msgspec.msgpack.Decoder(Tenant)
_entries_dec = msgspec.msgpack.Decoder(list[tuple[float, str, str]])
_time_of = itemgetter(0)

#: Failures that mean "Redis is not answering now", not "endcap has a bug".
DOWN: tuple[type[Exception], ...] = (
    rexc.ConnectionError, rexc.TimeoutError, rexc.ClusterDownError, rexc.TryAgainError,
    rexc.ReadOnlyError, rexc.MasterDownError, rexc.ClusterError, OSError,
)
#: What makes a cluster read go through redis-py, which knows how to reroute it.
_REROUTE: tuple[type[Exception], ...] = (rexc.ResponseError, rexc.SlotNotCoveredError, *DOWN)
#: How many model versions are kept (the current one is always among them).
KEEP_MODELS = 10
#: Hourly real-time counters and co-occurrence pairs expire after this many seconds.
COUNTER_TTL = 8 * 86_400
#: Co-occurrence pairs kept per item and shard: up to twice this between trims, which
#: stays under Redis's compact (listpack) encoding limit of 128 members.
PAIR_CAP = 50
#: Lines of one purchase paired with each other for co-purchase counts.
PAIR_LINES = 10
#: After a failed call, how long calls fail fast before Redis is tried again.
BREAKER_SECONDS = 0.5
#: Changes fetched per cache sync; more than this and the tenant's cache is dropped.
SYNC_BATCH = 1_000


class StoreMisconfigured(RuntimeError):
    """Processes sharing one Redis disagree on how it is laid out."""


class StoreUnavailable(Unavailable):
    """The store did not answer; the request may be retried."""

    code = "store_unavailable"
    retry_after = 1


def available(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Turn Redis outages into :class:`StoreUnavailable` (HTTP 503, Retry-After). After a
    failure, calls fail at once for :data:`BREAKER_SECONDS` instead of each waiting out
    its timeouts and retries, so a replica answers from its caches without delay."""

    @functools.wraps(fn)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        store: RedisStore = args[0]  # type: ignore[assignment]
        if store.down_until and time.monotonic() < store.down_until:
            raise StoreUnavailable("the store is unavailable; retrying shortly")
        try:
            out = await fn(*args, **kwargs)
        except rexc.OutOfMemoryError as e:  # full (noeviction): writes wait, reads go on
            log.warning("store full: %s", e)
            raise StoreUnavailable("the store is full and refuses writes; retry later") from e
        except DOWN as e:
            store.down_until = time.monotonic() + BREAKER_SECONDS
            log.warning("store unavailable (%s: %s)", type(e).__name__, e)
            raise StoreUnavailable(f"the store is unavailable: {e}") from e
        store.down_until = 0.0
        return out

    return call


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def pack_entries(raw: Sequence[bytes]) -> bytes:
    """Many msgpack-encoded entries as one msgpack array, for a single decode."""
    n = len(raw)
    head = bytes([0x90 | n]) if n < 16 else b"\xdc" + struct.pack(">H", n)
    return head + b"".join(raw)


class RedisStore:
    """Implements :class:`endcap.store.protocol.Store` on Redis or Redis Cluster."""

    streamed = True

    def __init__(self, client: aioredis.Redis | RedisCluster, keys: Keys, *,
                 dedupe_seconds: int = 6 * 3600, user_ttl: int = 180 * 86_400,
                 session_ttl: int = 30 * 86_400, sync_seconds: float = 1.0,
                 cache_items: int = 200_000, archive: str | None = None,
                 fast: MuxConnection | None = None, node_url: str | None = None,
                 timeout: float = 1.0) -> None:
        # redis-py's return types are unions of bytes, str and None; the client is
        # created with decode_responses off, so every reply here is bytes.
        self.client: Any = client
        self.keys = keys
        self.dedupe_seconds = dedupe_seconds
        self.user_ttl = user_ttl
        self.session_ttl = session_ttl
        self.archive = archive
        self.cache = LocalCache(max_items=cache_items, sync_seconds=sync_seconds)
        self._scripts = {name: client.register_script(getattr(scripts, name))
                         for name in ("APPEND", "APPLY", "UPSERT", "CAS", "PUT", "DELETE",
                                      "PUBLISH", "SET_CURRENT")}
        self._sync_lock: dict[str, asyncio.Lock] = {}
        self.cluster = isinstance(client, RedisCluster)
        self._fast = fast
        self._node_url = node_url
        self._node_fast: dict[tuple[str, int], MuxConnection] = {}
        self._timeout = timeout
        self.down_until = 0.0
        self._layout_checked = False

    @classmethod
    def from_url(cls, url: str, *, cluster: bool, timeout: float, max_connections: int,
                 **kwargs: Any) -> RedisStore:
        retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), 2)
        common: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout,
                                  "retry": retry, "health_check_interval": 30}
        client: aioredis.Redis | RedisCluster
        kwargs["timeout"] = timeout
        if cluster:
            client = RedisCluster.from_url(url, max_connections=max_connections, **common)
            kwargs["node_url"] = url  # the hot path's read goes to each node, multiplexed
        else:
            pool = aioredis.BlockingConnectionPool.from_url(
                url, max_connections=max_connections, timeout=timeout, **common)
            client = aioredis.Redis(connection_pool=pool)
            kwargs["fast"] = MuxConnection(url, timeout)  # the hot path's read, multiplexed
        return cls(client, **kwargs)

    def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Awaitable[Any]:
        return self._scripts[name](keys=list(keys), args=list(args))

    async def _check_layout(self) -> None:
        """Every process on one Redis must shard the same way, or events and histories
        would be looked for in the wrong place: the first process records ``shards``,
        the others must match it."""
        if self._layout_checked:
            return
        meta = self.keys.meta()
        await self.client.hsetnx(meta, "shards", self.keys.shards)
        recorded = int(await self.client.hget(meta, "shards"))
        if recorded != self.keys.shards:
            raise StoreMisconfigured(
                f"this Redis (prefix {self.keys.prefix!r}) holds {recorded} event shards per "
                f"tenant, but the store URL says shards={self.keys.shards}: use the same "
                "value in every process")
        self._layout_checked = True

    # -- tenants --------------------------------------------------------------------------

    @available
    async def create_tenant(self, tenant: Tenant, public_key: str, secret_token: str) -> None:
        # The tenant record first: if it exists nothing else is written, so keys never
        # point at a tenant someone else created.
        if not await self.client.hsetnx(self.keys.tenants(), tenant.id, _enc.encode(tenant)):
            raise ValueError(f"tenant {tenant.id!r} exists")
        for cred, key in ((Credential(tenant.id, "public"), public_key),
                          (Credential(tenant.id, "secret"), secret_token)):
            await self.client.set(self.keys.key(hash_key(key)), _enc.encode(cred))

    @available
    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        raw = await self.client.hget(self.keys.tenants(), tenant_id)
        return None if raw is None else _tenant_dec.decode(raw)

    @available
    async def list_tenants(self) -> list[Tenant]:
        await self._check_layout()
        raw = await self.client.hgetall(self.keys.tenants())
        return sorted((_tenant_dec.decode(v) for v in raw.values()),
                      key=lambda t: t.created_at)

    async def resolve_key(self, key: str) -> Credential | None:
        cred = self.cache.credential(key)
        return cred if cred is not None else await self._fetch_key(key)

    @available
    async def _fetch_key(self, key: str) -> Credential | None:
        raw = await self.client.get(self.keys.key(hash_key(key)))
        if raw is None:
            return None
        cred = msgspec.msgpack.decode(raw, type=Credential)
        self.cache.put_credential(key, cred)
        return cred

    # -- catalog --------------------------------------------------------------------------

    async def _sync(self, tenant: str) -> None:
        """Drop cached items and pods that another process changed (at most every
        ``sync_seconds`` per tenant; concurrent callers do not wait for each other)."""
        if not self.cache.sync_due(tenant) or time.monotonic() < self.down_until:
            return
        lock = self._sync_lock.setdefault(tenant, asyncio.Lock())
        if lock.locked():
            return
        async with lock:
            try:
                await self._sync_changes(tenant)
            except DOWN:
                # Serve what is cached (it cannot change while the store is down);
                # try again at the next sync.
                self.cache.synced(tenant, self.cache.last_change(tenant) or b"0-0")

    async def _sync_changes(self, tenant: str) -> None:
        last = self.cache.last_change(tenant)
        key = self.keys.changes(tenant)
        if last is None:
            newest = await self.client.xrevrange(key, count=1)
            self.cache.synced(tenant, newest[0][0] if newest else b"0-0")
            return
        entries = await self.client.xrange(key, min=last, count=SYNC_BATCH + 1)
        if not entries or (entries[0][0] != last and last != b"0-0") \
                or len(entries) > SYNC_BATCH:
            self.cache.forget_tenant(tenant)  # missed some changes: start afresh
        else:  # entries[0] is ``last`` itself (already applied) unless starting from 0-0
            for _, fields in entries if last == b"0-0" else entries[1:]:
                for kind, what in fields.items():
                    self.cache.invalidate(tenant, kind.decode(), what.decode())
        self.cache.synced(tenant, entries[-1][0] if entries else b"0-0")

    @available
    async def upsert_items(self, tenant: str, items: Sequence[Item]) -> None:
        args: list[Any] = ["items", "*" if len(items) > 50 else "\x1f".join(i.id for i in items)]
        for it in items:
            args += [it.id, _enc.encode(it)]
        await self._run("UPSERT", [self.keys.items(tenant), self.keys.changes(tenant)], args)
        self.cache.forget_items(tenant, [i.id for i in items])

    async def get_items(self, tenant: str, ids: Sequence[str]) -> list[Item | None]:
        """From the cache where it can; one HMGET for the rest."""
        await self._sync(tenant)
        out, missing = self.cache.items(tenant, ids)
        if not missing:
            return out
        found = await self._fetch_items(tenant, missing)
        return [found[i] if o is None and i in found else o
                for i, o in zip(ids, out, strict=True)]

    @available
    async def _fetch_items(self, tenant: str, ids: list[str]) -> dict[str, Item | None]:
        raw = await self.client.hmget(self.keys.items(tenant), ids)
        found = {i: (None if r is None else _item_dec.decode(r))
                 for i, r in zip(ids, raw, strict=True)}
        self.cache.put_items(tenant, found)
        return found

    @available
    async def patch_item(self, tenant: str, item_id: str, patch: ItemPatch) -> Item | None:
        key = self.keys.items(tenant)
        for _ in range(20):  # compare and set; retried when a concurrent write won
            raw = await self.client.hget(key, item_id)
            if raw is None:
                return None
            new = apply_patch(_item_dec.decode(raw), patch)
            if await self._run("CAS", [key, self.keys.changes(tenant)],
                               ["items", item_id, raw, _enc.encode(new)]):
                self.cache.forget_items(tenant, [item_id])
                return new
        raise StoreUnavailable("the item is being changed by others; retry")

    @available
    async def delete_item(self, tenant: str, item_id: str) -> bool:
        gone = await self._run("DELETE", [self.keys.items(tenant), self.keys.changes(tenant)],
                               ["items", item_id])
        self.cache.forget_items(tenant, [item_id])
        return bool(gone)

    @available
    async def all_items(self, tenant: str) -> list[Item]:
        out = []
        async for _, raw in self.client.hscan_iter(self.keys.items(tenant), count=1_000):
            out.append(_item_dec.decode(raw))
        return out

    @available
    async def count_items(self, tenant: str) -> int:
        return int(await self.client.hlen(self.keys.items(tenant)))

    # -- pods -----------------------------------------------------------------------------

    @available
    async def put_pod(self, tenant: str, pod: Pod) -> bool:
        created = await self._run("PUT", [self.keys.pods(tenant), self.keys.changes(tenant)],
                                  ["pods", pod.id, _enc.encode(pod)])
        self.cache.forget_pod(tenant, pod.id)
        return bool(created)

    async def get_pod(self, tenant: str, pod_id: str) -> Pod | None:
        await self._sync(tenant)
        hit, pod = self.cache.pod(tenant, pod_id)
        if hit:
            return pod
        try:
            return await self._fetch_pod(tenant, pod_id)
        except StoreUnavailable:
            # The store is down and the cached copy was dropped by a change note: the
            # last known version serves (degraded) rather than failing the request.
            known, stale = self.cache.stale_pod(tenant, pod_id)
            if known:
                return stale
            raise

    @available
    async def _fetch_pod(self, tenant: str, pod_id: str) -> Pod | None:
        raw = await self.client.hget(self.keys.pods(tenant), pod_id)
        pod = None if raw is None else _pod_dec.decode(raw)
        self.cache.put_pod(tenant, pod_id, pod)
        return pod

    @available
    async def list_pods(self, tenant: str) -> list[Pod]:
        raw = await self.client.hgetall(self.keys.pods(tenant))
        return sorted((_pod_dec.decode(v) for v in raw.values()), key=lambda p: p.id)

    @available
    async def delete_pod(self, tenant: str, pod_id: str) -> bool:
        gone = await self._run("DELETE", [self.keys.pods(tenant), self.keys.changes(tenant)],
                               ["pods", pod_id])
        self.cache.forget_pod(tenant, pod_id)
        return bool(gone)

    # -- event log ------------------------------------------------------------------------

    def shard_of_event(self, event: Event) -> tuple[int, str]:
        """The shard an event is streamed to, and the shopper it belongs to (a user's
        events go to the user's shard, anonymous ones to the session's)."""
        shoppers = event.shopper_keys()
        shopper = shoppers[0] if shoppers else "e:" + event.event_id
        return self.keys.shard_of(shopper), shopper

    @available
    async def append(self, tenant: str, events: Sequence[Event]) -> list[bool]:
        await self._check_layout()
        by_shard: dict[int, list[int]] = {}
        for i, e in enumerate(events):
            by_shard.setdefault(self.shard_of_event(e)[0], []).append(i)
        keys = self.keys

        async def one(shard: int, idx: list[int]) -> tuple[list[int], list[int]]:
            ks = [keys.stream(tenant, shard), keys.event_count(tenant, shard)]
            ks += [keys.seen(tenant, shard, events[i].event_id) for i in idx]
            args: list[Any] = [self.dedupe_seconds]
            args += [_enc.encode(events[i]) for i in idx]
            if self._fast is not None:  # a tenth of redis-py's CPU per call
                return idx, await self._fast.script(self._scripts["APPEND"].sha,
                                                    scripts.APPEND, ks, tuple(args))
            return idx, await self._run("APPEND", ks, args)

        fresh = [False] * len(events)
        for idx, flags in await asyncio.gather(*(one(s, ix) for s, ix in by_shard.items())):
            for i, f in zip(idx, flags, strict=True):
                fresh[i] = bool(f)
        return fresh

    @available
    async def read_events(self, tenant: str) -> list[Event]:
        """Archived events (when the URL names an archive), then those still in the
        streams, ordered by time of arrival, each ``event_id`` once however long apart
        its copies arrived (the append marks forget after ``dedupe_hours``; this does not)."""
        tagged: list[tuple[bytes, Event]] = []
        for shard in range(self.keys.shards):
            async for sid, e in self.stream_entries(tenant, shard):
                tagged.append((sid, e))
        tagged.sort(key=lambda p: tuple(int(x) for x in p[0].split(b"-")))
        archived: list[Event] = []
        if self.archive is not None:
            from endcap.stream.archive import read_archive

            archived = await asyncio.to_thread(read_archive, self.archive, tenant)
        seen = {e.event_id for e in archived}
        out = archived
        for _, e in tagged:
            if e.event_id not in seen:
                seen.add(e.event_id)
                out.append(e)
        return out

    async def stream_entries(self, tenant: str, shard: int, batch: int = 5_000
                             ) -> AsyncIterator[tuple[bytes, Event]]:
        """(stream id, event) of every entry still in a shard's stream, oldest first."""
        key = self.keys.stream(tenant, shard)
        start = "-"
        while True:
            rows = await self.client.xrange(key, min=start, count=batch)
            for sid, fields in rows:
                yield sid, _event_dec.decode(fields[b"e"])
            if len(rows) < batch:
                return
            start = "(" + rows[-1][0].decode()

    @available
    async def count_events(self, tenant: str) -> int:
        keys = [self.keys.event_count(tenant, s) for s in range(self.keys.shards)]
        async with self.client.pipeline(transaction=False) as pipe:
            for k in keys:
                pipe.get(k)
            got = await pipe.execute()
        return sum(int(v) for v in got if v is not None)

    # -- real-time state ------------------------------------------------------------------

    @available
    async def apply(self, tenant: str, events: Sequence[Event]) -> int:
        """Fold events into shopper histories and counters, each event at most once however
        often it is applied (a reclaimed batch is applied again). Returns how many were
        applied now."""
        await self._check_layout()
        by_shard: dict[int, list[tuple[str, Event]]] = {}
        for e in events:
            shard, shopper = self.shard_of_event(e)
            by_shard.setdefault(shard, []).append((shopper, e))
        results = await asyncio.gather(*(self._apply_shard(tenant, s, evs)
                                          for s, evs in by_shard.items()))
        return sum(results)

    async def _apply_shard(self, tenant: str, shard: int, events: list[tuple[str, Event]]
                           ) -> int:
        k = self.keys
        keys: list[str] = []
        args: list[Any] = [self.dedupe_seconds, MAX_EVENTS, MAX_PURCHASED, PAIR_CAP,
                           COUNTER_TTL, k.counter_prefix(tenant, shard), PAIR_LINES]
        oldest_counted = time.time() - COUNTER_TTL
        for shopper, e in events:
            keys += [k.seen(tenant, shard, e.event_id), k.history(tenant, shard, shopper),
                     k.bought(tenant, shard, shopper), k.recent(tenant, shard, shopper)]
            ts = float(e.timestamp or 0.0)  # type: ignore[arg-type]
            ttl = self.user_ttl if shopper.startswith("u:") else self.session_ttl
            lines = {ln.id: ln.quantity for ln in e.items or ()}
            ids = e.item_ids()
            hour = int(ts // 3600) if ts >= oldest_counted else ""
            args += [e.type, repr(ts), ttl, hour, len(ids)]
            keep = e.type in HISTORY_TYPES
            for item in ids:
                args += [item, lines.get(item, 1),
                         _enc.encode((ts, e.type, item)) if keep else b""]
        return int(await self._run("APPLY", keys, args))

    @available
    async def histories(self, tenant: str, keys: Sequence[str]) -> list[ShopperHistory]:
        """Each shopper's history and bought set, in one round trip (per shopper on a
        cluster). The bought set is read without its scores: Redis formats a double in
        about 0.3 µs, so the scores of a 1,000-item set cost ten times its members. A
        purchase's time comes from the history's own entries; purchases older than the
        history (see :class:`ShopperHistory`) have time 0."""
        await self._check_layout()
        k = self.keys
        commands: list[tuple[Any, ...]] = []
        for shopper in keys:
            shard = k.shard_of(shopper)
            commands += [("LRANGE", k.history(tenant, shard, shopper), 0, -1),
                         ("ZRANGE", k.bought(tenant, shard, shopper), 0, -1)]
        if self._fast is not None:
            got = await self._fast.pipeline(*commands)
        elif self.cluster:
            got = await self._cluster_histories(commands)
        else:
            async with self.client.pipeline(transaction=False) as pipe:
                for cmd in commands:
                    pipe.execute_command(*cmd)
                got = list(await pipe.execute())
        out = []
        for i in range(0, len(got), 2):
            raw, bought = got[i], got[i + 1]
            h = ShopperHistory()
            if raw:
                entries = _entries_dec.decode(pack_entries(raw))
                entries.sort(key=_time_of)  # arrival order; a late event sorts by its time
                h.events = entries
            if bought:
                h.purchased = dict.fromkeys(map(bytes.decode, bought), 0.0)
                for ts, kind, item in h.events:
                    if kind == "purchase":
                        h.purchased[item] = ts
            out.append(h)
        return out

    async def _cluster_histories(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """On a cluster each shopper's two keys share a slot: one pipeline per shopper,
        over a multiplexed connection to the node redis-py's slot map names. When the map
        is stale (MOVED, ASK, a node gone), this request reads through redis-py, which
        follows the redirect and refreshes the map for the next ones."""
        try:
            pairs = [commands[i:i + 2] for i in range(0, len(commands), 2)]
            if len(pairs) == 1:
                return await self._node_connection(pairs[0][0][1]).pipeline(*pairs[0])
            parts = await asyncio.gather(
                *(self._node_connection(pair[0][1]).pipeline(*pair) for pair in pairs))
            return [x for part in parts for x in part]
        except _REROUTE as e:
            log.debug("reading histories through redis-py (%s)", e)
        async with self.client.pipeline(transaction=False) as pipe:
            for cmd in commands:
                pipe.execute_command(*cmd)
            return list(await pipe.execute())

    def _node_connection(self, key: str) -> MuxConnection:
        node = self.client.get_node_from_key(key)
        if node is None or self._node_url is None:
            raise rexc.SlotNotCoveredError(f"no node known for {key!r}")
        conn = self._node_fast.get((node.host, node.port))
        if conn is None:
            parts = urlsplit(self._node_url)
            auth = parts.netloc.rpartition("@")[0]
            netloc = f"{auth}@{node.host}:{node.port}" if auth else f"{node.host}:{node.port}"
            url = urlunsplit((parts.scheme, netloc, "", parts.query, ""))
            conn = self._node_fast[(node.host, node.port)] = MuxConnection(url, self._timeout)
        return conn

    # -- models ---------------------------------------------------------------------------

    @available
    async def publish_model(self, tenant: str, version: str, artifact: bytes, *,
                            kind: ArtifactKind = "model") -> None:
        k = self.keys
        await self._run("PUBLISH", [k.models(tenant, kind), k.model_seq(tenant, kind),
                                    k.model_current(tenant, kind),
                                    k.model(tenant, version, kind)],
                        [version, artifact, KEEP_MODELS, k.model(tenant, "", kind)])

    @available
    async def current_model(self, tenant: str, *, kind: ArtifactKind = "model") -> str | None:
        raw = await self.client.get(self.keys.model_current(tenant, kind))
        return None if raw is None else raw.decode()

    @available
    async def load_model(self, tenant: str, version: str, *,
                         kind: ArtifactKind = "model") -> bytes | None:
        raw = await self.client.get(self.keys.model(tenant, version, kind))
        return None if raw is None else bytes(raw)

    @available
    async def model_versions(self, tenant: str, *, kind: ArtifactKind = "model") -> list[str]:
        raw = await self.client.zrange(self.keys.models(tenant, kind), 0, -1)
        return [v.decode() for v in raw]

    @available
    async def set_current_model(self, tenant: str, version: str, *,
                                kind: ArtifactKind = "model") -> bool:
        k = self.keys
        return bool(await self._run("SET_CURRENT", [k.models(tenant, kind),
                                                    k.model_current(tenant, kind)],
                                    [version]))

    # -- lifecycle ------------------------------------------------------------------------

    @available
    async def ping(self) -> bool:
        await self._check_layout()
        return bool(await self.client.ping())

    async def close(self) -> None:
        for conn in (self._fast, *self._node_fast.values()):
            if conn is not None:
                conn.close()
        await self.client.aclose()
