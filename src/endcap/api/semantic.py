"""The api's semantic layer: each tenant's embeddings, the query encoder and its cache.

The provider (a 90 MB model in this process, or a remote endpoint) is made on first
use; a repeated intent is served from an LRU cache and costs no model call.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from endcap.api.model_cache import ArtifactCache
from endcap.errors import BadRequest, Unavailable
from endcap.pods.filters import narrow
from endcap.pods.model import Filters
from endcap.semantic.artifact import ItemEmbeddings
from endcap.semantic.intent import Intent, Vocabulary, parse_intent
from endcap.semantic.provider import EmbeddingProvider, SemanticUnavailable, Vectors
from endcap.semantic.providers import make_provider
from endcap.settings import ServeSettings
from endcap.store.protocol import ModelStore

log = logging.getLogger("endcap.api.semantic")

#: Distinct query texts whose vectors are kept.
QUERY_CACHE = 10_000


class SemanticLayer:
    def __init__(self, settings: ServeSettings, store: ModelStore,
                 provider: EmbeddingProvider | None = None) -> None:
        self.settings = settings
        self.embeddings = ArtifactCache[ItemEmbeddings](
            store, settings.model_poll_seconds, "embeddings", ItemEmbeddings.from_bytes)
        self._provider = provider
        self._why_not: str | None = None
        self._queries: OrderedDict[str, Vectors] = OrderedDict()
        self._vocab: dict[str, Vocabulary] = {}
        self._lock = asyncio.Lock()
        self.hits = 0
        self.misses = 0

    def provider(self) -> EmbeddingProvider:
        """The query encoder; raises :class:`Unavailable` saying why there is none."""
        if self._provider is None:
            if self._why_not is not None:
                raise Unavailable(self._why_not, field="query")
            try:
                self._provider = make_provider(self.settings)
            except SemanticUnavailable as e:
                self._why_not = f"semantic search is unavailable: {e}"
                raise Unavailable(self._why_not, field="query") from None
        return self._provider

    def provider_or_none(self) -> EmbeddingProvider | None:
        """The same provider for other work in this process (the all-in-one retrainer),
        so that the model is loaded once; None when there is none."""
        try:
            return self.provider()
        except Unavailable:
            return None

    async def warm_up(self) -> None:
        """Load the provider's model (and run it once) before the first query needs it;
        a provider that cannot run is logged, not raised: the rest of the api serves."""
        provider = self.provider_or_none()
        if provider is None:
            log.warning("%s", self._why_not)
            return
        try:
            await asyncio.to_thread(provider.embed, ["warm up"])
        except SemanticUnavailable as e:
            log.warning("the embedding provider failed to warm up: %s", e)

    async def encode(self, text: str) -> Vectors:
        """The vector of a query text, from the cache when it was asked before."""
        hit = self._queries.get(text)
        if hit is not None:
            self._queries.move_to_end(text)
            self.hits += 1
            return hit
        provider = self.provider()
        async with self._lock:  # one model call at a time; a racing twin hits the cache
            hit = self._queries.get(text)
            if hit is not None:
                self.hits += 1
                return hit
            self.misses += 1
            try:
                vec: Vectors = (await asyncio.to_thread(provider.embed, [text]))[0]
            except SemanticUnavailable as e:
                raise Unavailable(f"the embedding provider failed: {e}", field="query"
                                  ) from None
            self._queries[text] = vec
            if len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
            return vec

    def intent(self, emb: ItemEmbeddings, query: str, filters: Filters) -> tuple[Intent,
                                                                                 Filters]:
        """The query's intent, and ``filters`` narrowed by the constraints it states (a
        category outside the pod's own is ignored: the pod's placement rules)."""
        vocab = self._vocab.get(emb.version)
        if vocab is None:
            vocab = Vocabulary(categories=sorted(emb.attributes.categories),
                               brands=list(emb.attributes.brands))
            self._vocab = {emb.version: vocab}
        try:
            intent = parse_intent(query, vocab)
        except ValueError as e:
            raise BadRequest(f"query: {e}", field="query") from None
        wanted = intent.filters
        pod_cat = filters.category
        if wanted.category and pod_cat and not (
                wanted.category.strip("/") + "/").startswith(pod_cat.strip("/") + "/"):
            wanted = Filters(brand=wanted.brand, price_min=wanted.price_min,
                             price_max=wanted.price_max)
        return intent, narrow(filters, wanted)
