"""Where the Redis back-end keeps everything: one place, so that the slot rules hold.

Redis Cluster puts a key in the slot of its ``{hash tag}``. Two tags are used:

* ``{P:T}`` — the tenant's catalog, pods, change log and models. Multi-key writes
  (an item upsert and its change note, a model and its pointer) stay in that slot.
* ``{P:T:k}`` — shard ``k`` of the tenant's shoppers: the event stream, the
  idempotency marks, shopper histories and the real-time counters. A shopper belongs
  to shard ``crc32(shopper key) % shards``, so one event, and one stream worker's batch
  of a shard, touches one slot, and one Lua call applies it atomically.

A recommendations request reads at most two shoppers (a user and their session); each
shopper's keys share a slot.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

#: Keys outside any tenant.
TENANTS = "tenants"


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "endcap"
    shards: int = 8

    # -- global -----------------------------------------------------------------------

    def tenants(self) -> str:
        return f"{self.prefix}:{TENANTS}"

    def key(self, key_hash: str) -> str:
        """A credential, by the SHA-256 of the key; each in its own slot."""
        return f"{self.prefix}:key:{key_hash}"

    def meta(self) -> str:
        return f"{self.prefix}:meta"

    # -- per tenant ---------------------------------------------------------------------

    def _t(self, tenant: str) -> str:
        return f"{{{self.prefix}:{tenant}}}"

    def items(self, tenant: str) -> str:
        return self._t(tenant) + ":items"

    def pods(self, tenant: str) -> str:
        return self._t(tenant) + ":pods"

    def changes(self, tenant: str) -> str:
        """A capped stream of catalog and pod changes, read by every process's cache."""
        return self._t(tenant) + ":changes"

    def model(self, tenant: str, version: str, kind: str = "model") -> str:
        """An artifact of ``kind`` ("model", "embeddings"): the model's keys keep their
        names from before there were other kinds."""
        return self._t(tenant) + f":{kind}:" + version

    def models(self, tenant: str, kind: str = "model") -> str:
        """Sorted set: version -> publication sequence."""
        return self._t(tenant) + f":{kind}s"

    def model_seq(self, tenant: str, kind: str = "model") -> str:
        return self._t(tenant) + f":{kind}-seq"

    def model_current(self, tenant: str, kind: str = "model") -> str:
        return self._t(tenant) + f":{kind}-current"

    # -- per shard --------------------------------------------------------------------------

    def shard_of(self, shopper: str) -> int:
        return zlib.crc32(shopper.encode()) % self.shards

    def shard_tag(self, tenant: str, shard: int) -> str:
        return f"{{{self.prefix}:{tenant}:{shard}}}"

    def stream(self, tenant: str, shard: int) -> str:
        return self.shard_tag(tenant, shard) + ":events"

    def event_count(self, tenant: str, shard: int) -> str:
        return self.shard_tag(tenant, shard) + ":events-total"

    def seen(self, tenant: str, shard: int, event_id: str) -> str:
        """Idempotency mark: ``l`` once logged, ``a`` once applied to state."""
        return self.shard_tag(tenant, shard) + ":seen:" + event_id

    def history(self, tenant: str, shard: int, shopper: str) -> str:
        """List of msgpack ``[ts, type, item]`` entries, oldest first (arrival order)."""
        return self.shard_tag(tenant, shard) + ":h:" + shopper

    def bought(self, tenant: str, shard: int, shopper: str) -> str:
        """Sorted set: item -> time of the shopper's latest purchase of it."""
        return self.shard_tag(tenant, shard) + ":b:" + shopper

    def recent(self, tenant: str, shard: int, shopper: str) -> str:
        """The shopper's last few viewed items, newest first (for co-view counts)."""
        return self.shard_tag(tenant, shard) + ":r:" + shopper

    def counter_prefix(self, tenant: str, shard: int) -> str:
        """``<prefix>n:<type>:<hour>`` item counts; ``cv:<item>``, ``cb:<item>`` pairs."""
        return self.shard_tag(tenant, shard) + ":"
