"""The models an api process serves: loaded once, swapped atomically.

A request reads ``cache.get(tenant)``: a plain dict lookup returning a complete,
immutable :class:`Model`. A background task polls the store's current-version
pointer and, when it moves, loads the new artifact off the event loop and then
replaces the dict entry in one assignment, so no request sees a half-loaded model.
"""

from __future__ import annotations

import asyncio
import logging

from endcap.store.protocol import ModelStore
from endcap.train.model import Model

log = logging.getLogger("endcap.api.models")


class ModelCache:
    def __init__(self, store: ModelStore, poll_seconds: float = 2.0) -> None:
        self._store = store
        self._poll = poll_seconds
        self._models: dict[str, Model | None] = {}

    def get(self, tenant: str) -> Model | None:
        """The model served for ``tenant`` (None before its first training)."""
        return self._models.get(tenant)

    def known(self, tenant: str) -> bool:
        return tenant in self._models

    async def refresh(self, tenant: str) -> Model | None:
        """Load the tenant's current version if it is not the one served. Raises if the
        artifact cannot be loaded; the tenant is then still polled, and whatever was
        served before is served still."""
        self._models.setdefault(tenant, None)  # polled from now on, even if loading fails
        version = await self._store.current_model(tenant)
        served = self._models.get(tenant)
        if version is None or (served is not None and served.version == version):
            return served
        data = await self._store.load_model(tenant, version)
        if data is None:
            return served
        model = await asyncio.to_thread(Model.from_bytes, data)
        self._models[tenant] = model
        log.info("serving model %s for tenant %s", version, tenant)
        return model

    async def ensure(self, tenant: str) -> Model | None:
        """For a request: the tenant's model, loading it on first sight; a broken
        artifact is logged and the request served without a model rather than failed."""
        if self.known(tenant):
            return self.get(tenant)
        try:
            return await self.refresh(tenant)
        except Exception:
            log.exception("could not load the model of tenant %s; serving without it", tenant)
            return self.get(tenant)

    async def run(self) -> None:
        """Poll for new versions of every tenant seen so far, forever."""
        while True:
            await asyncio.sleep(self._poll)
            for tenant in list(self._models):
                try:
                    await self.refresh(tenant)
                except Exception:  # keep serving the old model; say why
                    log.exception("could not refresh the model of tenant %s", tenant)
