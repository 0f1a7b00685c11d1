"""The train role's job: read a tenant's catalog and event log, fit, publish."""

from __future__ import annotations

import asyncio
import logging
import time

from endcap.store.protocol import Store
from endcap.train.fit import fit_model
from endcap.train.model import Model, new_version

log = logging.getLogger("endcap.train")


async def train_tenant(store: Store, tenant: str) -> Model:
    """Fit a model on everything logged so far and make it the current version."""
    items = await store.all_items(tenant)
    events = await store.read_events(tenant)
    start = time.perf_counter()
    model = await asyncio.to_thread(fit_model, items, events, version=new_version())
    artifact = await asyncio.to_thread(model.to_bytes)
    await store.publish_model(tenant, model.version, artifact)
    log.info("tenant %s: model %s from %d items and %d events in %.1f s (%d bytes)",
             tenant, model.version, len(items), len(events), time.perf_counter() - start,
             len(artifact))
    return model
