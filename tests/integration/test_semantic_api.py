"""Semantic discovery through a real ``endcap serve``: embed, search by intent, cold
for_you, reason codes, incremental re-embedding, and the service without a provider."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from endcap.semantic import local
from tests.conftest import Server, Tenant, clients, create_tenant, endcap

pytestmark = pytest.mark.skipif(not local.available(),
                                reason="needs the `semantic` extra (make install)")

ITEMS = [
    {"id": "shoe-trail", "name": "Trail running shoes with grippy soles", "price": 95.0,
     "categories": ["Sport/Running"], "brand": "Swift"},
    {"id": "shoe-road", "name": "Lightweight road running shoes", "price": 130.0,
     "categories": ["Sport/Running"], "brand": "Swift"},
    {"id": "socks", "name": "Cushioned running socks, pack of three", "price": 12.0,
     "categories": ["Sport/Running"], "brand": "Swift"},
    {"id": "bottle", "name": "Insulated water bottle for runners", "price": 25.0,
     "categories": ["Sport/Accessories"]},
    {"id": "mug", "name": "Red ceramic coffee mug", "price": 8.0,
     "categories": ["Kitchen/Mugs"], "brand": "Acme"},
    {"id": "kids-mug", "name": "Unbreakable children's mug with dinosaurs", "price": 6.0,
     "categories": ["Kitchen/Mugs"], "brand": "Acme"},
    {"id": "teapot", "name": "Cast iron teapot", "price": 40.0,
     "categories": ["Kitchen/Teapots"]},
    {"id": "lamp", "name": "Brass desk lamp", "price": 45.0, "categories": ["Home/Lighting"]},
    {"id": "candle", "name": "Scented soy candle, lavender", "price": 9.0,
     "categories": ["Home/Candles"]},
]


@pytest.fixture
def shop(tmp_path: Path, start_server: Callable[..., Server]
         ) -> Iterator[tuple[Server, Tenant, httpx.Client, httpx.Client]]:
    url = f"file://{tmp_path / 'store'}"
    tenant = create_tenant(url, "shop")
    server = start_server(url)
    pub, sec = clients(server.url, tenant, timeout=60)
    assert sec.put("/v1/items", json=ITEMS).status_code in (200, 201)
    assert sec.put("/v1/pods/search", json={"strategy": "semantic_search"}
                   ).status_code in (200, 201)
    assert sec.put("/v1/pods/search-or-best", json={
        "strategy": ["semantic_search", "filtered_items"]}).status_code in (200, 201)
    assert sec.put("/v1/pods/fy", json={"strategy": "for_you"}).status_code in (200, 201)
    yield server, tenant, pub, sec
    pub.close()
    sec.close()


def recs(pub: httpx.Client, pod: str, **params: object) -> httpx.Response:
    return pub.get(f"/v1/pods/{pod}/recommendations", params=params)  # type: ignore[arg-type]


def test_search_by_intent_with_constraints(
        shop: tuple[Server, Tenant, httpx.Client, httpx.Client]) -> None:
    server, _, pub, _ = shop
    r = recs(pub, "search", query="running shoes")
    assert r.status_code == 503 and "endcap embed" in r.json()["error"]["message"]

    out = endcap("embed", "--store", server.store_url)
    assert "9 embedded" in out

    r = recs(pub, "search", query="running shoes", num_results=3)
    assert r.status_code == 200, r.text
    got = r.json()["results"]
    assert {g["id"] for g in got[:2]} == {"shoe-trail", "shoe-road"}
    assert all(g["reason"] == "matches_query" and g["strategy"] == "semantic_search"
               for g in got)

    # "under 100" is a price ceiling: the road shoes (130) are filtered out, during the
    # search, and the pod still fills from what matches.
    r = recs(pub, "search", query="shoes for a jogger under 100", num_results=5)
    ids = [g["id"] for g in r.json()["results"]]
    assert ids[0] == "shoe-trail" and "shoe-road" not in ids and len(ids) == 5
    # "running" is a category of the catalog: with the ceiling, two items match.
    r = recs(pub, "search", query="running gear under 100", num_results=5)
    assert sorted(g["id"] for g in r.json()["results"]) == ["shoe-trail", "socks"]
    # A category the catalog knows, named in the text, becomes a filter.
    r = recs(pub, "search", query="a mug for a child")
    ids = [g["id"] for g in r.json()["results"]]
    assert ids[0] == "kids-mug" and set(ids) == {"kids-mug", "mug"}

    # A pod of semantic strategies alone needs the text; a chain falls through.
    r = recs(pub, "search")
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "query"
    endcap("train", "--store", server.store_url, "--no-embed")  # filtered_items reads it
    time.sleep(0.5)  # the server polls for models every 0.2 s
    r = recs(pub, "search-or-best", num_results=2)
    assert r.status_code == 200 and r.json()["results"][0]["strategy"] == "filtered_items"


def test_cold_shopper_for_you_and_re_embedding(
        shop: tuple[Server, Tenant, httpx.Client, httpx.Client]) -> None:
    server, _, pub, sec = shop
    endcap("embed", "--store", server.store_url)
    # Nothing is trained, so for_you has only the text of what the shopper viewed.
    assert pub.post("/v1/events", json={"event_id": "v1", "type": "view",
                                        "session_id": "s1", "item_id": "shoe-trail"}
                    ).status_code == 202
    r = recs(pub, "fy", session_id="s1", num_results=3)
    got = r.json()["results"]
    assert got and got[0]["id"] == "shoe-road"
    assert all(g["reason"] == "similar_text" for g in got)
    assert "shoe-trail" not in [g["id"] for g in got]

    # An unchanged catalog embeds nothing; one renamed item is embedded alone.
    assert "unchanged" in endcap("embed", "--store", server.store_url)
    assert sec.patch("/v1/items/candle", json={"name": "Running headlamp, rechargeable"}
                     ).status_code in (200, 201)
    assert "1 embedded" in endcap("embed", "--store", server.store_url)


def test_without_a_provider_semantic_pods_say_so(
        tmp_path: Path, start_server: Callable[..., Server]) -> None:
    url = f"file://{tmp_path / 'store'}"
    tenant = create_tenant(url, "shop")
    server = start_server(url, ENDCAP_EMBEDDINGS="off")
    pub, sec = clients(server.url, tenant)
    sec.put("/v1/items", json=ITEMS)
    sec.put("/v1/pods/search", json={"strategy": "semantic_search"})
    endcap("embed", "--store", url)  # embeddings exist; this process may not embed
    r = recs(pub, "search", query="lamp")
    assert r.status_code == 503
    assert "switched off" in r.json()["error"]["message"]
    r = endcap_fails("embed", "--store", url, env={"ENDCAP_EMBEDDINGS": "off"})
    assert "switched off" in r
    sec.close()
    pub.close()


def endcap_fails(*args: str, env: dict[str, str]) -> str:
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "endcap.cli.main", *args],
                         capture_output=True, text=True, env={**os.environ, **env},
                         timeout=120)
    assert out.returncode != 0
    return out.stderr
