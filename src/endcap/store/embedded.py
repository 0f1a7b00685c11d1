"""The embedded back-end: in-process state, persisted to SQLite in a local directory.

Reads are served from memory. Writes go to SQLite first (WAL journal, on one
writer thread so the event loop never blocks on disk), and reach memory only once
committed: whatever is acknowledged is on disk, and a process killed with
``kill -9`` loses nothing (``sync=full`` in the URL also survives power loss).
Shopper histories are rebuilt from the event log when the store opens.

One process owns a directory; several processes sharing state need the Redis
back-end.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TypeVar

import msgspec

from endcap.catalog.model import Item, ItemPatch, apply_patch
from endcap.events.model import Event
from endcap.pods.model import Pod
from endcap.store.protocol import ArtifactKind, Credential, KeyKind, Tenant
from endcap.stream.history import HISTORY_TYPES, ShopperHistory

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (id TEXT PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    key_hash TEXT PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    tenant TEXT NOT NULL, id TEXT NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (tenant, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pods (
    tenant TEXT NOT NULL, id TEXT NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (tenant, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, tenant TEXT NOT NULL, event_id TEXT NOT NULL, body BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_id ON events (tenant, event_id);
CREATE TABLE IF NOT EXISTS models (
    tenant TEXT NOT NULL, version TEXT NOT NULL, created_seq INTEGER NOT NULL,
    body BLOB NOT NULL, PRIMARY KEY (tenant, version));
CREATE TABLE IF NOT EXISTS model_current (tenant TEXT PRIMARY KEY, version TEXT NOT NULL);
"""

_enc = msgspec.msgpack.Encoder()
_item_dec = msgspec.msgpack.Decoder(Item)
_event_dec = msgspec.msgpack.Decoder(Event)
_pod_dec = msgspec.msgpack.Decoder(Pod)
_tenant_dec = msgspec.msgpack.Decoder(Tenant)


class StoreBusy(RuntimeError):
    """Another process already writes to this embedded store."""


def hash_key(key: str) -> str:
    """Keys are stored as SHA-256 digests, never in clear."""
    return hashlib.sha256(key.encode()).hexdigest()


class EmbeddedStore:
    """Implements :class:`endcap.store.protocol.Store` in one process."""

    streamed = False

    def __init__(self, path: Path | None, *, sync_full: bool = False,
                 histories: bool = True) -> None:
        """Open (or create) the store; ``histories=False`` skips rebuilding shopper
        histories from the event log, for batch roles (train, tenants) that never read
        them."""
        self.path = path
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            db = str(path / "endcap.db")
        else:
            db = ":memory:"
        self._db = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if sync_full else 'NORMAL'}")
        self._db.executescript(_SCHEMA)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="endcap-store")
        self._claim: IO[str] | None = None
        self._lock = asyncio.Lock()
        self._tenants: dict[str, Tenant] = {}
        self._keys: dict[str, Credential] = {}
        self._by_key: dict[str, Credential] = {}
        self._items: dict[str, dict[str, Item]] = {}
        self._pods: dict[str, dict[str, Pod]] = {}
        self._hist: dict[str, dict[str, ShopperHistory]] = {}
        self._event_counts: dict[str, int] = {}
        self._with_histories = histories
        self._load()

    # -- start-up -------------------------------------------------------------------------

    def _load(self) -> None:
        q = self._db.execute
        for (body,) in q("SELECT body FROM tenants"):
            t = _tenant_dec.decode(body)
            self._tenants[t.id] = t
        for key_hash, tenant, kind in q("SELECT key_hash, tenant, kind FROM keys"):
            self._keys[key_hash] = Credential(tenant, _kind(kind))
        for tenant, body in q("SELECT tenant, body FROM items"):
            item = _item_dec.decode(body)
            self._items.setdefault(tenant, {})[item.id] = item
        for tenant, body in q("SELECT tenant, body FROM pods"):
            pod = _pod_dec.decode(body)
            self._pods.setdefault(tenant, {})[pod.id] = pod
        for tenant, n in q("SELECT tenant, count(*) FROM events GROUP BY tenant"):
            self._event_counts[tenant] = n
        if self._with_histories:
            for tenant, body in q("SELECT tenant, body FROM events ORDER BY seq"):
                self._apply_one(tenant, _event_dec.decode(body))

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one transaction on the writer thread; roll back if it raises."""

        def run() -> T:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                out = fn(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return out

        return await asyncio.get_running_loop().run_in_executor(self._writer, run)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, self._db)

    # -- tenants --------------------------------------------------------------------------

    async def create_tenant(self, tenant: Tenant, public_key: str, secret_token: str) -> None:
        keys = [(hash_key(public_key), "public"), (hash_key(secret_token), "secret")]
        async with self._lock:
            if tenant.id in self._tenants:
                raise ValueError(f"tenant {tenant.id!r} exists")

            def tx(db: sqlite3.Connection) -> None:
                db.execute("INSERT INTO tenants VALUES (?, ?)", (tenant.id, _enc.encode(tenant)))
                db.executemany("INSERT INTO keys VALUES (?, ?, ?)",
                               [(h, tenant.id, k) for h, k in keys])

            await self._write(tx)
            self._tenants[tenant.id] = tenant
            for h, kind in keys:
                self._keys[h] = Credential(tenant.id, _kind(kind))

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        return self._tenants.get(tenant_id)

    async def list_tenants(self) -> list[Tenant]:
        return sorted(self._tenants.values(), key=lambda t: t.created_at)

    async def resolve_key(self, key: str) -> Credential | None:
        cred = self._by_key.get(key)
        if cred is not None:
            return cred
        h = hash_key(key)
        cred = self._keys.get(h)
        if cred is None:  # a tenant created by another process (``endcap tenants create``)
            cred = await self._read(lambda db: self._key_from_db(db, h))
        if cred is not None and len(self._by_key) < 10_000:
            self._by_key[key] = cred  # skip the hash next time
        return cred

    def _key_from_db(self, db: sqlite3.Connection, key_hash: str) -> Credential | None:
        row = db.execute("SELECT tenant, kind FROM keys WHERE key_hash = ?",
                         (key_hash,)).fetchone()
        if row is None:
            return None
        cred = self._keys[key_hash] = Credential(row[0], _kind(row[1]))
        return cred

    # -- catalog --------------------------------------------------------------------------

    async def upsert_items(self, tenant: str, items: Sequence[Item]) -> None:
        rows = [(tenant, it.id, _enc.encode(it)) for it in items]
        async with self._lock:
            await self._write(lambda db: db.executemany(
                "INSERT OR REPLACE INTO items VALUES (?, ?, ?)", rows))
            table = self._items.setdefault(tenant, {})
            for it in items:
                table[it.id] = it

    async def get_items(self, tenant: str, ids: Sequence[str]) -> list[Item | None]:
        table = self._items.get(tenant, {})
        return [table.get(i) for i in ids]

    async def patch_item(self, tenant: str, item_id: str, patch: ItemPatch) -> Item | None:
        async with self._lock:
            old = self._items.get(tenant, {}).get(item_id)
            if old is None:
                return None
            new = apply_patch(old, patch)
            row = (tenant, item_id, _enc.encode(new))
            await self._write(lambda db: db.execute(
                "INSERT OR REPLACE INTO items VALUES (?, ?, ?)", row))
            self._items[tenant][item_id] = new
            return new

    async def delete_item(self, tenant: str, item_id: str) -> bool:
        async with self._lock:
            if item_id not in self._items.get(tenant, {}):
                return False
            await self._write(lambda db: db.execute(
                "DELETE FROM items WHERE tenant = ? AND id = ?", (tenant, item_id)))
            del self._items[tenant][item_id]
            return True

    async def all_items(self, tenant: str) -> list[Item]:
        return list(self._items.get(tenant, {}).values())

    async def count_items(self, tenant: str) -> int:
        return len(self._items.get(tenant, {}))

    # -- pods -----------------------------------------------------------------------------

    async def put_pod(self, tenant: str, pod: Pod) -> bool:
        row = (tenant, pod.id, _enc.encode(pod))
        async with self._lock:
            await self._write(lambda db: db.execute(
                "INSERT OR REPLACE INTO pods VALUES (?, ?, ?)", row))
            table = self._pods.setdefault(tenant, {})
            created = pod.id not in table
            table[pod.id] = pod
            return created

    async def get_pod(self, tenant: str, pod_id: str) -> Pod | None:
        return self._pods.get(tenant, {}).get(pod_id)

    async def list_pods(self, tenant: str) -> list[Pod]:
        return sorted(self._pods.get(tenant, {}).values(), key=lambda p: p.id)

    async def delete_pod(self, tenant: str, pod_id: str) -> bool:
        async with self._lock:
            if pod_id not in self._pods.get(tenant, {}):
                return False
            await self._write(lambda db: db.execute(
                "DELETE FROM pods WHERE tenant = ? AND id = ?", (tenant, pod_id)))
            del self._pods[tenant][pod_id]
            return True

    # -- event log ------------------------------------------------------------------------

    async def append(self, tenant: str, events: Sequence[Event]) -> list[bool]:
        rows = [(tenant, e.event_id, _enc.encode(e)) for e in events]

        def tx(db: sqlite3.Connection) -> list[bool]:
            cur = db.cursor()
            fresh = []
            for row in rows:
                cur.execute("INSERT OR IGNORE INTO events (tenant, event_id, body) "
                            "VALUES (?, ?, ?)", row)
                fresh.append(cur.rowcount == 1)
            return fresh

        async with self._lock:
            fresh = await self._write(tx)
            self._event_counts[tenant] = self._event_counts.get(tenant, 0) + sum(fresh)
            return fresh

    async def read_events(self, tenant: str) -> list[Event]:
        def rd(db: sqlite3.Connection) -> list[Event]:
            cur = db.execute("SELECT body FROM events WHERE tenant = ? ORDER BY seq", (tenant,))
            return [_event_dec.decode(b) for (b,) in cur]

        return await self._read(rd)

    async def count_events(self, tenant: str) -> int:
        return self._event_counts.get(tenant, 0)

    # -- real-time state ------------------------------------------------------------------

    def _apply_one(self, tenant: str, event: Event) -> None:
        if event.type not in HISTORY_TYPES:
            return
        table = self._hist.setdefault(tenant, {})
        for key in event.shopper_keys()[:1]:  # a user's events live in the user's history
            h = table.get(key)
            if h is None:
                h = table[key] = ShopperHistory()
            h.apply(event)

    async def apply(self, tenant: str, events: Sequence[Event]) -> int:
        for e in events:
            self._apply_one(tenant, e)
        return len(events)

    async def histories(self, tenant: str, keys: Sequence[str]) -> list[ShopperHistory]:
        if not self._with_histories:
            raise RuntimeError("this store was opened without histories (batch use)")
        table = self._hist.get(tenant, {})
        return [table.get(k) or ShopperHistory() for k in keys]

    # -- models ---------------------------------------------------------------------------

    async def publish_model(self, tenant: str, version: str, artifact: bytes, *,
                            kind: ArtifactKind = "model") -> None:
        tenant = _artifact_owner(tenant, kind)
        def tx(db: sqlite3.Connection) -> None:
            (seq,) = db.execute("SELECT coalesce(max(created_seq), 0) + 1 FROM models").fetchone()
            db.execute("INSERT INTO models VALUES (?, ?, ?, ?)", (tenant, version, seq, artifact))
            db.execute("INSERT OR REPLACE INTO model_current VALUES (?, ?)", (tenant, version))

        async with self._lock:
            await self._write(tx)

    async def current_model(self, tenant: str, *, kind: ArtifactKind = "model") -> str | None:
        tenant = _artifact_owner(tenant, kind)
        row = await self._read(lambda db: db.execute(
            "SELECT version FROM model_current WHERE tenant = ?", (tenant,)).fetchone())
        return None if row is None else str(row[0])

    async def load_model(self, tenant: str, version: str, *,
                         kind: ArtifactKind = "model") -> bytes | None:
        tenant = _artifact_owner(tenant, kind)
        row = await self._read(lambda db: db.execute(
            "SELECT body FROM models WHERE tenant = ? AND version = ?",
            (tenant, version)).fetchone())
        return None if row is None else bytes(row[0])

    async def model_versions(self, tenant: str, *, kind: ArtifactKind = "model") -> list[str]:
        tenant = _artifact_owner(tenant, kind)
        rows = await self._read(lambda db: db.execute(
            "SELECT version FROM models WHERE tenant = ? ORDER BY created_seq",
            (tenant,)).fetchall())
        return [str(r[0]) for r in rows]

    async def set_current_model(self, tenant: str, version: str, *,
                                kind: ArtifactKind = "model") -> bool:
        tenant = _artifact_owner(tenant, kind)
        def tx(db: sqlite3.Connection) -> bool:
            if db.execute("SELECT 1 FROM models WHERE tenant = ? AND version = ?",
                          (tenant, version)).fetchone() is None:
                return False
            db.execute("INSERT OR REPLACE INTO model_current VALUES (?, ?)", (tenant, version))
            return True

        async with self._lock:
            return await self._write(tx)

    # -- lifecycle ------------------------------------------------------------------------

    async def ping(self) -> bool:
        await self._read(lambda db: db.execute("SELECT 1").fetchone())
        return True

    def claim(self) -> None:
        """Take this directory for the process that will write items and events (``serve``,
        ``load``). Readers (``train``, ``tenants``) need no claim. Raises
        :class:`StoreBusy` while another process holds it; the claim ends with the process.
        """
        if self.path is None or self._claim is not None:
            return
        handle = (self.path / "owner.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StoreBusy(f"{self.path} is in use by another endcap process (serve or "
                            "load); send data to that server over HTTP instead") from None
        self._claim = handle

    async def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._db.close()
        if self._claim is not None:
            self._claim.close()
            self._claim = None


def _kind(kind: str) -> KeyKind:
    return "secret" if kind == "secret" else "public"


def _artifact_owner(tenant: str, kind: ArtifactKind) -> str:
    """The models tables' owner column: the tenant for models, ``tenant<US>kind`` for the
    other kinds (tenant ids cannot hold control characters)."""
    return tenant if kind == "model" else f"{tenant}\x1f{kind}"
