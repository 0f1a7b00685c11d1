"""The v1 API through a real ``endcap serve`` process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, Tenant, clients, create_tenant, endcap

ITEMS = [
    {"id": "mug-red", "name": "Red mug", "price": 8.5, "categories": ["Kitchen/Mugs"],
     "brand": "Acme", "facets": {"color": "red"}},
    {"id": "mug-blue", "name": "Blue mug", "price": 9.0, "categories": ["Kitchen/Mugs"],
     "brand": "Acme", "facets": {"color": "blue"}},
    {"id": "teapot", "name": "Teapot", "price": 25.0, "categories": ["Kitchen/Teapots"],
     "brand": "Brewco"},
    {"id": "tea", "name": "Green tea", "price": 4.0, "categories": ["Food/Tea"],
     "brand": "Brewco", "in_stock": False},
    {"id": "spoon", "name": "Tea spoon", "price": 2.0, "categories": ["Kitchen/Cutlery"]},
]


def purchase(eid: str, user: str, ts: float, *items: str) -> dict[str, object]:
    return {"event_id": eid, "type": "purchase", "user_id": user, "timestamp": ts,
            "items": [{"id": i, "quantity": 1} for i in items]}


@pytest.fixture
def api(tmp_path: Path, start_server: Callable[..., Server]
        ) -> Iterator[tuple[Server, Tenant, httpx.Client, httpx.Client]]:
    url = f"file://{tmp_path / 'store'}"
    tenant = create_tenant(url, "shop")
    server = start_server(url)
    pub, sec = clients(server.url, tenant, timeout=10)
    yield server, tenant, pub, sec
    pub.close()
    sec.close()


def test_catalog_crud(api: tuple[Server, Tenant, httpx.Client, httpx.Client]) -> None:
    _, _, pub, sec = api
    r = sec.put("/v1/items", json=ITEMS)
    assert r.status_code == 200 and r.json() == {"upserted": 5}
    assert sec.get("/v1/items/teapot").json()["price"] == 25.0
    r = sec.patch("/v1/items/teapot", json={"price": 19.5, "in_stock": False})
    assert r.status_code == 200 and r.json()["price"] == 19.5
    assert sec.get("/v1/items/teapot").json()["in_stock"] is False
    assert sec.delete("/v1/items/spoon").status_code == 204
    assert sec.get("/v1/items/spoon").status_code == 404
    assert sec.delete("/v1/items/spoon").status_code == 404
    # NDJSON upload
    nd = b'{"id": "a", "name": "A"}\n{"id": "b", "name": "B"}\n'
    r = sec.put("/v1/items", content=nd, headers={"Content-Type": "application/x-ndjson"})
    assert r.json() == {"upserted": 2}
    # the public key may not touch the catalog
    assert pub.put("/v1/items", json=ITEMS).status_code == 403
    assert pub.get("/v1/items/teapot").status_code == 403


@pytest.mark.parametrize(("body", "status", "field"), [
    (b"[{\"id\": \"x\", \"price\": -1}]", 422, "[0].price"),
    (b"[{\"id\": \"x\", \"colour\": \"red\"}]", 422, "[0].colour"),
    (b"[{\"name\": \"no id\"}]", 422, "[0].id"),
    (b"[{\"id\": 5}]", 422, "[0].id"),
    (b"[{not json", 400, "body"),
    (b'{"id": "x"}', 422, "body"),
    (b"[{\"id\": \"x\"}, {\"id\": \"x\"}]", 422, "[1].id"),
])
def test_bad_items_rejected_whole(api: tuple[Server, Tenant, httpx.Client, httpx.Client],
                                  body: bytes, status: int, field: str) -> None:
    _, _, _, sec = api
    sec.put("/v1/items", json=ITEMS)
    good_then_bad = body.replace(b"[", b'[{"id": "new-one"}, ', 1) if body.startswith(b"[") \
        else body
    for payload in (body, good_then_bad):
        r = sec.put("/v1/items", content=payload, headers={"Content-Type": "application/json"})
        assert r.status_code == status, r.text
        err = r.json()["error"]
        assert err["code"] and err["message"]
        if payload is body:
            assert err["details"].get("field", "").startswith(field)
    assert sec.get("/v1/items/new-one").status_code == 404  # nothing half-written
    assert sec.get("/v1/items/x").status_code == 404


def test_auth(api: tuple[Server, Tenant, httpx.Client, httpx.Client]) -> None:
    server, _, _, _ = api
    r = httpx.get(server.url + "/v1/pods")
    assert r.status_code == 401 and r.json()["error"]["details"]["field"] == "Authorization"
    r = httpx.get(server.url + "/v1/pods", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


def test_tenants_are_isolated(tmp_path: Path, start_server: Callable[..., Server]) -> None:
    url = f"file://{tmp_path / 'store'}"
    a, b = create_tenant(url, "shop-a"), create_tenant(url, "shop-b")
    server = start_server(url)
    ha = {"Authorization": f"Bearer {a.secret_token}"}
    hb = {"Authorization": f"Bearer {b.secret_token}"}
    assert httpx.put(server.url + "/v1/items", json=ITEMS, headers=ha).status_code == 200
    assert httpx.get(server.url + "/v1/items/teapot", headers=hb).status_code == 404
    assert httpx.get(server.url + "/v1/items/teapot", headers=ha).status_code == 200


def test_events_counts_and_idempotence(
        api: tuple[Server, Tenant, httpx.Client, httpx.Client]) -> None:
    _, _, pub, sec = api
    sec.put("/v1/items", json=ITEMS)
    batch = [
        {"event_id": "e1", "type": "view", "user_id": "u1", "item_id": "mug-red"},
        {"event_id": "e2", "type": "view", "user_id": "u1", "item_id": "nope"},
        {"event_id": "e3", "type": "view", "user_id": "u1"},
        {"event_id": "e1", "type": "view", "user_id": "u1", "item_id": "mug-red"},
        purchase("e4", "u1", 1_700_000_000, "mug-red", "teapot"),
        {"event_id": "e5", "type": "click", "session_id": "s", "item_id": "tea", "bogus": 1},
    ]
    r = pub.post("/v1/events", json=batch)
    assert r.status_code == 202
    body = r.json()
    assert (body["accepted"], body["duplicated"], body["rejected"]) == (2, 1, 3)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (1, "item_id"), (2, "item_id"), (5, "bogus")]
    r = pub.post("/v1/events", json=batch[0])
    assert r.json()["duplicated"] == 1 and r.json()["accepted"] == 0
    assert pub.post("/v1/events", content=b"[").status_code == 400
    assert pub.post("/v1/events", json=[]).status_code == 400
    too_many = [{"event_id": f"x{i}", "type": "view", "user_id": "u", "item_id": "tea"}
                for i in range(1001)]
    assert pub.post("/v1/events", json=too_many).status_code == 422
    r = pub.post("/v1/events", json=[batch[2]])
    assert r.status_code == 422 and r.json()["rejected"] == 1  # nothing accepted: an error


def test_pods_crud_and_validation(api: tuple[Server, Tenant, httpx.Client, httpx.Client]
                                  ) -> None:
    _, _, pub, sec = api
    r = sec.put("/v1/pods/similar", json={"strategy": ["alternative_items", "bestsellers"],
                                          "num_results": 3})
    assert r.status_code == 201 and r.json()["id"] == "similar"
    assert sec.put("/v1/pods/similar", json={"strategy": "bestsellers"}).status_code == 200
    assert [p["id"] for p in sec.get("/v1/pods").json()["pods"]] == ["similar"]
    r = sec.put("/v1/pods/bad", json={"strategy": "magic"})
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "strategy"
    r = sec.put("/v1/pods/bad", json={"strategy": "bestsellers", "num_results": 0})
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "num_results"
    assert sec.get("/v1/pods/bad").status_code == 404
    r = sec.put("/v1/pods/-bad", json={"strategy": "bestsellers"})
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "pod_id"
    assert sec.delete("/v1/pods/similar").status_code == 204
    assert pub.get("/v1/pods/similar/recommendations").status_code == 404


def test_recommendations_end_to_end(
        api: tuple[Server, Tenant, httpx.Client, httpx.Client]) -> None:
    server, _, pub, sec = api
    sec.put("/v1/items", json=ITEMS)
    t = 1_700_000_000.0
    events = [purchase(f"p{i}", f"u{i}", t + i, "mug-red", "teapot") for i in range(6)]
    events += [purchase(f"q{i}", f"v{i}", t + i, "mug-blue") for i in range(3)]
    events += [purchase(f"r{i}", f"w{i}", t + i, "teapot", "tea") for i in range(2)]
    assert pub.post("/v1/events", json=events).json()["accepted"] == len(events)
    sec.put("/v1/pods/best", json={"strategy": "bestsellers", "num_results": 3})
    sec.put("/v1/pods/seen", json={"strategy": "recently_viewed", "allow_repurchase": True})
    sec.put("/v1/pods/fy", json={"strategy": ["for_you", "bestsellers"], "num_results": 4})

    # before any training: recently_viewed works, bestsellers is empty but answers
    r = pub.get("/v1/pods/best/recommendations")
    assert r.status_code == 200 and r.json()["results"] == []

    status = sec.get("/v1/status").json()
    assert (status["items"], status["events"], status["pods"], status["model"]) == (
        5, len(events), 3, None)
    assert pub.get("/v1/status").status_code == 403
    endcap("train", "--store", server.store_url)
    deadline = time.monotonic() + 10
    while pub.get("/v1/pods/best/recommendations").json()["model_version"] is None:
        assert time.monotonic() < deadline, "model not picked up"
        time.sleep(0.05)
    r = pub.get("/v1/pods/best/recommendations").json()
    assert [x["id"] for x in r["results"]] == ["teapot", "mug-red", "mug-blue"]
    assert sec.get("/v1/status").json()["model"]["version"] == r["model_version"]
    assert all(x["strategy"] == "bestsellers" for x in r["results"])
    assert len(r["result_id"]) >= 16
    assert r["result_id"] != pub.get("/v1/pods/best/recommendations").json()["result_id"]

    # filters: category prefix, price, stock, brand, facet; exclude
    def ids(pod: str, **params: object) -> list[str]:
        res = pub.get(f"/v1/pods/{pod}/recommendations", params=params)
        assert res.status_code == 200, res.text
        return [x["id"] for x in res.json()["results"]]

    assert ids("best", **{"filters[category]": "Kitchen/Mugs"}) == ["mug-red", "mug-blue"]
    assert ids("best", **{"filters[price_max]": "10"}) == ["mug-red", "mug-blue", "tea"]
    assert ids("best", **{"filters[brand]": "brewco"}) == ["teapot", "tea"]
    assert "tea" not in ids("best", **{"filters[in_stock]": "true", "num_results": 10})
    assert ids("best", **{"filters[facet.color]": "blue"}) == ["mug-blue"]
    assert ids("best", exclude="teapot") == ["mug-red", "mug-blue", "tea"]

    # real time: a view shows up on the very next request
    pub.post("/v1/events", json={"event_id": "v1", "type": "view", "session_id": "anon",
                                 "item_id": "spoon", "timestamp": t + 100})
    assert ids("seen", session_id="anon") == ["spoon"]
    # for_you for a shopper who bought mug-red: teapot (bought together), not mug-red
    got = ids("fy", user_id="u0")
    assert "mug-red" not in got and "teapot" not in got  # both bought already
    # a new shopper's first view personalises the very next for_you response
    before = pub.get("/v1/pods/fy/recommendations", params={"session_id": "new"}).json()
    assert {x["strategy"] for x in before["results"]} == {"bestsellers"}
    pub.post("/v1/events", json={"event_id": "v2", "type": "view", "session_id": "new",
                                 "item_id": "tea", "timestamp": t + 200})
    after = pub.get("/v1/pods/fy/recommendations", params={"session_id": "new"}).json()
    assert after["results"][0] == {**after["results"][0], "id": "teapot", "strategy": "for_you"}


def test_bad_recommendation_requests(
        api: tuple[Server, Tenant, httpx.Client, httpx.Client]) -> None:
    _, _, pub, sec = api
    sec.put("/v1/items", json=ITEMS)
    sec.put("/v1/pods/best", json={"strategy": "bestsellers"})
    cases = [
        ({"num_results": "0"}, 400, "num_results"),
        ({"num_results": "abc"}, 400, "num_results"),
        ({"filters[price_max]": "cheap"}, 400, "filters[price_max]"),
        ({"filters[colour]": "red"}, 400, "filters[colour]"),
        ({"item_id": "ghost"}, 404, "item_id"),
        ({"surprise": "1"}, 400, "surprise"),
    ]
    for params, status, field in cases:
        r = pub.get("/v1/pods/best/recommendations", params=params)
        assert r.status_code == status, (params, r.text)
        assert r.json()["error"]["details"]["field"] == field
    r = pub.get("/v1/pods/ghost/recommendations")
    assert r.status_code == 404 and r.json()["error"]["details"]["field"] == "pod_id"


def test_system_endpoints(api: tuple[Server, Tenant, httpx.Client, httpx.Client]) -> None:
    server, _, pub, sec = api
    sec.put("/v1/pods/best", json={"strategy": "bestsellers"})
    pub.get("/v1/pods/best/recommendations")
    assert httpx.get(server.url + "/healthz").json()["status"] == "ok"
    assert httpx.get(server.url + "/readyz").status_code == 200
    spec = httpx.get(server.url + "/openapi.json").json()
    assert "/v1/pods/{pod_id}/recommendations" in spec["paths"]
    assert "openapi.json" in httpx.get(server.url + "/docs").text
    metrics = httpx.get(server.url + "/metrics").text
    assert 'endcap_api_requests_total{method="GET",route="recommendations",status="200"}' \
        in metrics
    assert 'endcap_api_pod_request_duration_seconds_bucket{le="0.005",pod="best"}' in metrics
    r = httpx.get(server.url + "/nowhere")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = httpx.post(server.url + "/healthz")
    assert r.status_code == 405 and "error" in r.json()


def test_oversize_bodies_are_refused(tmp_path: Path, start_server: Callable[..., Server]
                                     ) -> None:
    url = f"file://{tmp_path / 'store'}"
    tenant = create_tenant(url, "shop")
    server = start_server(url, ENDCAP_MAX_BODY_BYTES="4096")
    sec = {"Authorization": f"Bearer {tenant.secret_token}"}
    big = [{"id": f"item-{n}", "name": "x" * 100} for n in range(100)]
    r = httpx.put(server.url + "/v1/items", json=big, headers=sec)
    assert r.status_code == 413 and r.json()["error"]["details"]["field"] == "body"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
        yield b"["
        for n in range(100):
            yield b'{"id": "c%d", "name": "%s"},' % (n, b"x" * 100)
        yield b'{"id": "last"}]'

    r = httpx.put(server.url + "/v1/items", content=chunks(), headers=sec)
    assert r.status_code == 413
    assert httpx.get(server.url + "/v1/items/item-0", headers=sec).status_code == 404
    assert httpx.get(server.url + "/v1/items/last", headers=sec).status_code == 404


def test_cors_for_storefront_pages(tmp_path: Path, start_server: Callable[..., Server]) -> None:
    url = f"file://{tmp_path / 'store'}"
    tenant = create_tenant(url, "shop")
    server = start_server(url, ENDCAP_CORS_ORIGINS="https://shop.example")
    auth = {"Authorization": f"Bearer {tenant.secret_token}"}
    httpx.put(server.url + "/v1/pods/top", json={"strategy": "bestsellers"}, headers=auth)
    origin = {"Origin": "https://shop.example"}
    r = httpx.options(server.url + "/v1/pods/top/recommendations", headers={
        **origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "Authorization"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://shop.example"
    r = httpx.get(server.url + "/v1/pods/top/recommendations", headers={**auth, **origin})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://shop.example"
    r = httpx.get(server.url + "/v1/pods/top/recommendations",
                  headers={**auth, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
