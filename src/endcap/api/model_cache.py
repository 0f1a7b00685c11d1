"""The models (and embeddings) an api process serves: loaded once, swapped atomically.

A request reads ``cache.get(tenant)``: a plain dict lookup returning a complete,
immutable :class:`Model`. A background task polls the store's current-version
pointer and, when it moves, loads the new artifact off the event loop and then
replaces the dict entry in one assignment, so no request sees a half-loaded model.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from endcap.store.protocol import ArtifactKind, ModelStore
from endcap.train.model import Model

log = logging.getLogger("endcap.api.models")


class Versioned(Protocol):
    @property
    def version(self) -> str: ...


A = TypeVar("A", bound=Versioned)


class ArtifactCache(Generic[A]):
    """The current artifact of one kind per tenant."""

    def __init__(self, store: ModelStore, poll_seconds: float, kind: ArtifactKind,
                 load: Callable[[bytes], A]) -> None:
        self._store = store
        self._poll = poll_seconds
        self._kind: ArtifactKind = kind
        self._load = load
        self._models: dict[str, A | None] = {}

    def get(self, tenant: str) -> A | None:
        """The model served for ``tenant`` (None before its first training)."""
        return self._models.get(tenant)

    def known(self, tenant: str) -> bool:
        return tenant in self._models

    async def refresh(self, tenant: str) -> A | None:
        """Load the tenant's current version if it is not the one served. Raises if the
        artifact cannot be loaded; the tenant is then still polled, and whatever was
        served before is served still."""
        self._models.setdefault(tenant, None)  # polled from now on, even if loading fails
        version = await self._store.current_model(tenant, kind=self._kind)
        served = self._models.get(tenant)
        if version is None or (served is not None and served.version == version):
            return served
        data = await self._store.load_model(tenant, version, kind=self._kind)
        if data is None:
            return served
        model = await asyncio.to_thread(self._load, data)
        self._models[tenant] = model
        log.info("serving %s %s for tenant %s", self._kind, version, tenant)
        return model

    async def ensure(self, tenant: str) -> A | None:
        """For a request: the tenant's model, loading it on first sight; a broken
        artifact is logged and the request served without a model rather than failed."""
        if self.known(tenant):
            return self.get(tenant)
        try:
            return await self.refresh(tenant)
        except Exception:
            log.exception("could not load the %s of tenant %s; serving without it",
                          self._kind, tenant)
            return self.get(tenant)

    async def run(self) -> None:
        """Poll for new versions of every tenant seen so far, forever."""
        while True:
            await asyncio.sleep(self._poll)
            for tenant in list(self._models):
                try:
                    await self.refresh(tenant)
                except Exception:  # keep serving the old model; say why
                    log.exception("could not refresh the %s of tenant %s", self._kind, tenant)


class ModelCache(ArtifactCache[Model]):
    """The trained models served."""

    def __init__(self, store: ModelStore, poll_seconds: float = 2.0) -> None:
        # Looked up per load, not bound here, so that a patched loader is seen.
        super().__init__(store, poll_seconds, "model", lambda data: Model.from_bytes(data))
