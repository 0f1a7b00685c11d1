"""Create tenants and their credentials."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

from endcap.store.protocol import Tenant, TenantStore

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True, slots=True)
class NewTenant:
    """A tenant with its keys in clear: shown once, then stored only as hashes."""

    tenant: Tenant
    public_key: str
    secret_token: str


async def create_tenant(store: TenantStore, tenant_id: str, name: str = "") -> NewTenant:
    """Create a tenant with fresh random keys; ValueError for a bad or taken id."""
    if not TENANT_ID.match(tenant_id):
        raise ValueError("tenant id: 1-63 lower-case letters, digits, '-' or '_'")
    tenant = Tenant(id=tenant_id, name=name or tenant_id, created_at=time.time())
    public = "pk_" + secrets.token_urlsafe(24)
    secret = "sk_" + secrets.token_urlsafe(32)
    await store.create_tenant(tenant, public, secret)
    return NewTenant(tenant, public, secret)
