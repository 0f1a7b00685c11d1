"""The api's semantic layer: the query cache and how a query's constraints narrow a pod."""

from __future__ import annotations

import asyncio

import pytest

from endcap.api.semantic import SemanticLayer
from endcap.catalog.model import Item
from endcap.errors import Unavailable
from endcap.pods.model import Filters
from endcap.semantic import local
from endcap.semantic.job import update
from endcap.settings import ServeSettings
from endcap.store.url import open_store
from tests.unit.test_embeddings import Counting

pytestmark = pytest.mark.skipif(not local.available(),
                                reason="needs the `semantic` extra (make install)")

ITEMS = [Item(id="mug", name="Red mug", categories=["Kitchen/Mugs"], price=8.0),
         Item(id="shoe", name="Running shoe", categories=["Sport/Running"], price=90.0,
              brand="Swift")]


def test_a_repeated_intent_costs_no_model_call() -> None:
    provider = Counting(local.LocalProvider())
    layer = SemanticLayer(ServeSettings(), open_store("memory://"), provider)

    async def go() -> None:
        a = await layer.encode("a red mug")
        b = await layer.encode("a red mug")
        assert (a == b).all()
        await layer.encode("trail shoes")

    asyncio.run(go())
    assert provider.texts == ["a red mug", "trail shoes"]
    assert (layer.hits, layer.misses) == (1, 2)


def test_query_constraints_narrow_the_pod_filters() -> None:
    layer = SemanticLayer(ServeSettings(), open_store("memory://"), local.LocalProvider())
    emb, _ = update(None, ITEMS, local.LocalProvider())
    assert emb is not None
    intent, f = layer.intent(emb, "swift running shoes under 100", Filters(price_max=150))
    assert f == Filters(category="Sport/Running", brand="Swift", price_max=100)
    assert "100" not in intent.text
    # A category outside the pod's own is ignored: the pod decides where it shows.
    _, f = layer.intent(emb, "mugs under 10", Filters(category="Sport"))
    assert f == Filters(category="Sport", price_max=10)


def test_switched_off_says_so() -> None:
    layer = SemanticLayer(ServeSettings(embeddings="off"), open_store("memory://"))
    with pytest.raises(Unavailable, match="switched off"):
        layer.provider()
    assert layer.provider_or_none() is None
