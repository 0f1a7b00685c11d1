"""In-process cache of what a request reads often and a shop changes rarely: credentials,
pods and item records (unknown ids too, so a bad id does not cost a round trip each time).

Memory is bounded by entry counts; when full, the oldest tenth of the entries is dropped.
A hit is one dict lookup and does not reorder anything. Entries are invalidated by the
writing process at once and by every other process when it next reads the tenant's
change stream (``sync_seconds`` at most).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from endcap.catalog.model import Item
from endcap.pods.model import Pod
from endcap.store.protocol import Credential

MAX_PODS = 10_000
MAX_CREDENTIALS = 10_000


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0


def _bound(table: dict[object, object], limit: int) -> None:
    if len(table) > limit:
        for key in list(table)[: max(1, limit // 10)]:
            del table[key]


@dataclass
class LocalCache:
    max_items: int = 200_000
    sync_seconds: float = 1.0
    stats: dict[str, CacheStats] = field(default_factory=lambda: {
        "items": CacheStats(), "pods": CacheStats(), "credentials": CacheStats()})
    _items: dict[tuple[str, str], Item | None] = field(default_factory=dict)
    _pods: dict[tuple[str, str], Pod | None] = field(default_factory=dict)
    #: Pods dropped by a change note, kept to serve while the store is unreachable.
    _stale_pods: dict[tuple[str, str], Pod | None] = field(default_factory=dict)
    _creds: dict[str, Credential] = field(default_factory=dict)
    _last_change: dict[str, bytes] = field(default_factory=dict)
    _next_sync: dict[str, float] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {"items": len(self._items), "pods": len(self._pods),
                "credentials": len(self._creds)}

    # -- credentials (never change once made) -----------------------------------------------

    def credential(self, key: str) -> Credential | None:
        cred = self._creds.get(key)
        s = self.stats["credentials"]
        if cred is None:
            s.misses += 1
        else:
            s.hits += 1
        return cred

    def put_credential(self, key: str, cred: Credential) -> None:
        self._creds[key] = cred
        _bound(self._creds, MAX_CREDENTIALS)  # type: ignore[arg-type]

    # -- items ------------------------------------------------------------------------------

    def items(self, tenant: str, ids: Sequence[str]) -> tuple[list[Item | None], list[str]]:
        """The cached items (None where not cached or unknown) and the ids not cached."""
        table = self._items
        out: list[Item | None] = []
        missing: list[str] = []
        for i in ids:
            key = (tenant, i)
            if key in table:
                out.append(table[key])
            else:
                out.append(None)
                missing.append(i)
        s = self.stats["items"]
        s.hits += len(ids) - len(missing)
        s.misses += len(missing)
        return out, missing

    def put_items(self, tenant: str, found: dict[str, Item | None]) -> None:
        for i, item in found.items():
            self._items[(tenant, i)] = item
        _bound(self._items, self.max_items)  # type: ignore[arg-type]

    def forget_items(self, tenant: str, ids: Sequence[str]) -> None:
        for i in ids:
            self._items.pop((tenant, i), None)

    # -- pods -------------------------------------------------------------------------------

    def pod(self, tenant: str, pod_id: str) -> tuple[bool, Pod | None]:
        key = (tenant, pod_id)
        s = self.stats["pods"]
        if key in self._pods:
            s.hits += 1
            return True, self._pods[key]
        s.misses += 1
        return False, None

    def put_pod(self, tenant: str, pod_id: str, pod: Pod | None) -> None:
        self._pods[(tenant, pod_id)] = pod
        _bound(self._pods, MAX_PODS)  # type: ignore[arg-type]

    def forget_pod(self, tenant: str, pod_id: str) -> None:
        self._drop_pod((tenant, pod_id))

    def _drop_pod(self, key: tuple[str, str]) -> None:
        if key in self._pods:
            self._stale_pods[key] = self._pods.pop(key)
            _bound(self._stale_pods, MAX_PODS)  # type: ignore[arg-type]

    def stale_pod(self, tenant: str, pod_id: str) -> tuple[bool, Pod | None]:
        """The last copy of a pod the cache dropped: (known, pod)."""
        key = (tenant, pod_id)
        return key in self._stale_pods, self._stale_pods.get(key)

    # -- invalidation -----------------------------------------------------------------------

    def sync_due(self, tenant: str) -> bool:
        return time.monotonic() >= self._next_sync.get(tenant, 0.0)

    def last_change(self, tenant: str) -> bytes | None:
        return self._last_change.get(tenant)

    def synced(self, tenant: str, change_id: bytes) -> None:
        self._last_change[tenant] = change_id
        self._next_sync[tenant] = time.monotonic() + self.sync_seconds

    def invalidate(self, tenant: str, kind: str, what: str) -> None:
        """Apply one change note: ``items``/``pods`` with ids joined by 0x1f, or ``*``."""
        if what == "*":
            if kind == "items":
                for key in [k for k in self._items if k[0] == tenant]:
                    del self._items[key]
            else:
                for key in [k for k in self._pods if k[0] == tenant]:
                    self._drop_pod(key)
            return
        for i in what.split("\x1f"):
            if kind == "items":
                self._items.pop((tenant, i), None)
            else:
                self._drop_pod((tenant, i))

    def forget_tenant(self, tenant: str) -> None:
        for key in [k for k in self._items if k[0] == tenant]:
            del self._items[key]
        for key in [k for k in self._pods if k[0] == tenant]:
            self._drop_pod(key)


class CachedItems:
    """An :class:`~endcap.store.protocol.ItemReader` that answers from the cache alone
    (None for what is not cached): what a replica serves while its store is down."""

    def __init__(self, cache: LocalCache) -> None:
        self._cache = cache

    async def get_items(self, tenant: str, ids: Sequence[str]) -> list[Item | None]:
        return self._cache.items(tenant, ids)[0]
