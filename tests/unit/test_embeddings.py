"""The embeddings artifact and its incremental update, with the real local model."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import pytest

from endcap.catalog.model import Item
from endcap.pods.model import Filters
from endcap.semantic import local
from endcap.semantic.artifact import ItemEmbeddings
from endcap.semantic.job import update
from endcap.semantic.provider import Vectors

pytestmark = pytest.mark.skipif(not local.available(),
                                reason="needs the `semantic` extra (make install)")


class Counting:
    """The real local provider, counting the texts it is asked to embed."""

    def __init__(self, inner: local.LocalProvider) -> None:
        self.inner = inner
        self.name = inner.name
        self.texts: list[str] = []

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.texts.extend(texts)
        return self.inner.embed(texts)


@pytest.fixture(scope="module")
def model() -> local.LocalProvider:
    return local.LocalProvider()


CATALOG = [
    Item(id="mug", name="Red ceramic coffee mug", categories=["Kitchen/Mugs"], price=8.0,
         brand="Acme"),
    Item(id="cup", name="Porcelain tea cup and saucer", categories=["Kitchen/Cups"],
         price=12.0),
    Item(id="shoe", name="Lightweight running shoes for marathon training",
         categories=["Sport/Running"], price=90.0, brand="Swift"),
    Item(id="sock", name="Cushioned running socks", categories=["Sport/Running"], price=9.0,
         brand="Swift", in_stock=False),
    Item(id="lamp", name="Brass desk lamp", categories=["Home/Lighting"], price=45.0),
]


def test_first_build_embeds_every_item_and_searches_by_meaning(model: local.LocalProvider
                                                                ) -> None:
    p = Counting(model)
    emb, report = update(None, CATALOG, p)
    assert emb is not None and report.embedded == 5 and len(p.texts) == 5
    q = model.embed(["jogging sneakers"])[0]
    assert [i for i, _ in emb.nearest(q)][:2] == ["shoe", "sock"]
    # Every live item is offered once, in descending similarity.
    walked = list(emb.nearest(q))
    assert sorted(i for i, _ in walked) == sorted(it.id for it in CATALOG)
    assert all(a[1] >= b[1] for a, b in pairwise(walked))


def test_filters_restrict_the_search(model: local.LocalProvider) -> None:
    emb, _ = update(None, CATALOG, model)
    assert emb is not None
    q = model.embed(["jogging sneakers"])[0]

    def ids(f: Filters) -> list[str]:
        return [i for i, _ in emb.nearest(q, f)]

    assert ids(Filters(price_max=50))[0] == "sock"
    assert set(ids(Filters(price_max=50))) == {"sock", "mug", "cup", "lamp"}
    assert ids(Filters(category="Kitchen")) and set(ids(Filters(category="Kitchen"))) == {
        "mug", "cup"}
    assert ids(Filters(brand="Swift", in_stock=True)) == ["shoe"]
    assert ids(Filters(category="Garden")) == []


def test_unchanged_texts_are_not_re_embedded(model: local.LocalProvider) -> None:
    first, _ = update(None, CATALOG, model)
    assert first is not None
    p = Counting(model)
    again, report = update(first, CATALOG, p)
    assert again is None and report.embedded == 0 and p.texts == []

    # A price change republishes without embedding; a renamed item is embedded again.
    changed = [Item(id="mug", name="Red ceramic coffee mug", categories=["Kitchen/Mugs"],
                    price=5.0, brand="Acme"),
               Item(id="cup", name="Espresso cup", categories=["Kitchen/Cups"], price=12.0),
               *CATALOG[2:4],
               Item(id="kite", name="Stunt kite for the beach", categories=["Sport/Kites"])]
    p = Counting(model)
    emb, report = update(first, changed, p)
    assert emb is not None
    assert sorted(p.texts) == sorted(["Espresso cup. category: Kitchen > Cups",
                                      "Stunt kite for the beach. category: Sport > Kites"])
    assert (report.embedded, report.reused, report.removed) == (2, 3, 2)  # cup, lamp gone
    assert sorted(emb.row) == ["cup", "kite", "mug", "shoe", "sock"]
    assert "lamp" not in [i for i, _ in emb.nearest(model.embed(["desk lamp"])[0])]
    assert emb.mask(Filters(price_max=6)) is not None
    assert [i for i, _ in emb.nearest(model.embed(["mug"])[0], Filters(price_max=6))] == [
        "mug"]


def test_round_trip_keeps_everything(model: local.LocalProvider) -> None:
    emb, _ = update(None, CATALOG, model)
    assert emb is not None
    back = ItemEmbeddings.from_bytes(emb.to_bytes())
    assert back.item_ids == emb.item_ids and back.provider == emb.provider
    assert np.array_equal(back.hashes, emb.hashes)
    assert np.allclose(back.vectors_of(["mug", "lamp"]), emb.vectors_of(["mug", "lamp"]))
    q = model.embed(["a lamp for my desk"])[0]
    assert list(back.nearest(q)) == list(emb.nearest(q))
    assert back.attributes.brands == emb.attributes.brands
