"""The storage contracts. Each back-end implements all of them and passes one
contract test suite (tests/contract)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

from endcap.catalog.model import Item, ItemPatch
from endcap.events.model import Event
from endcap.pods.model import Pod
from endcap.stream.history import ShopperHistory

KeyKind = Literal["public", "secret"]


class Tenant(msgspec.Struct, frozen=True, kw_only=True):
    """A shop. Its keys are stored only as hashes."""

    id: str
    name: str
    created_at: float


class Credential(msgspec.Struct, frozen=True):
    """What a presented key grants: a tenant, and whether it is the secret token."""

    tenant_id: str
    kind: KeyKind


class TenantStore(Protocol):
    async def create_tenant(self, tenant: Tenant, public_key: str, secret_token: str) -> None:
        """Store a tenant and its two keys; fails if the id exists."""
        ...

    async def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    async def list_tenants(self) -> list[Tenant]: ...

    async def resolve_key(self, key: str) -> Credential | None:
        """The credential a key grants, or None for an unknown key."""
        ...


class ItemReader(Protocol):
    async def get_items(self, tenant: str, ids: Sequence[str]) -> list[Item | None]:
        """The stored items for ``ids``, in order; None where unknown."""
        ...


class CatalogStore(Protocol):
    async def upsert_items(self, tenant: str, items: Sequence[Item]) -> None:
        """Insert or replace all ``items`` atomically: all are stored or none."""
        ...

    async def get_items(self, tenant: str, ids: Sequence[str]) -> list[Item | None]:
        """The stored items for ``ids``, in order; None where unknown."""
        ...

    async def patch_item(self, tenant: str, item_id: str, patch: ItemPatch) -> Item | None:
        """Apply ``patch`` atomically; the new item, or None if it does not exist."""
        ...

    async def delete_item(self, tenant: str, item_id: str) -> bool: ...

    async def all_items(self, tenant: str) -> list[Item]:
        """Every item of the tenant (batch use only: training, export)."""
        ...

    async def count_items(self, tenant: str) -> int: ...


class PodStore(Protocol):
    async def put_pod(self, tenant: str, pod: Pod) -> bool:
        """Store ``pod``; True when it was created, False when replaced."""
        ...

    async def get_pod(self, tenant: str, pod_id: str) -> Pod | None: ...

    async def list_pods(self, tenant: str) -> list[Pod]: ...

    async def delete_pod(self, tenant: str, pod_id: str) -> bool: ...


class EventLog(Protocol):
    async def append(self, tenant: str, events: Sequence[Event]) -> list[bool]:
        """Durably append events; per event, True if new, False if its ``event_id`` was
        already logged (then nothing is written for it). Returns only once durable."""
        ...

    async def read_events(self, tenant: str) -> list[Event]:
        """Every logged event of the tenant in log order (batch use only)."""
        ...

    async def count_events(self, tenant: str) -> int: ...


class StateStore(Protocol):
    #: True when logged events reach state through ``endcap stream`` workers (Redis);
    #: False when ingestion applies them itself (embedded).
    streamed: bool

    async def apply(self, tenant: str, events: Sequence[Event]) -> int:
        """Fold logged events into the shoppers' real-time state; how many were applied
        (a back-end with stream workers applies each event at most once however often it
        is given)."""
        ...

    async def histories(self, tenant: str, keys: Sequence[str]) -> list[ShopperHistory]:
        """The histories for shopper keys (``u:<user>``, ``s:<session>``); empty if unknown."""
        ...


#: The kinds of versioned artifact a tenant has: the trained model, and the item
#: embeddings with their ANN index (refreshed on catalog changes, between trainings).
ArtifactKind = Literal["model", "embeddings"]


class ModelStore(Protocol):
    """Versioned, immutable artifacts per tenant and kind, each kind with its own
    "current" pointer."""

    async def publish_model(self, tenant: str, version: str, artifact: bytes, *,
                            kind: ArtifactKind = "model") -> None:
        """Store an immutable artifact and make it current, atomically."""
        ...

    async def current_model(self, tenant: str, *, kind: ArtifactKind = "model") -> str | None:
        """The current version, or None before the first one."""
        ...

    async def load_model(self, tenant: str, version: str, *,
                         kind: ArtifactKind = "model") -> bytes | None: ...

    async def model_versions(self, tenant: str, *, kind: ArtifactKind = "model") -> list[str]:
        """Published versions, oldest first."""
        ...

    async def set_current_model(self, tenant: str, version: str, *,
                                kind: ArtifactKind = "model") -> bool:
        """Point current at an earlier version (rollback); False if unknown."""
        ...


class Store(TenantStore, CatalogStore, PodStore, EventLog, StateStore, ModelStore, Protocol):
    """A back-end that implements every contract, opened from a URL."""

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
