"""Whatever the embedded store acknowledged survives ``kill -9``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import Server, create_tenant


def test_acknowledged_writes_survive_kill_9(tmp_path: Path,
                                            start_server: Callable[..., Server]) -> None:
    url = f"file://{tmp_path / 'store'}"
    tenant = create_tenant(url, "shop")
    server = start_server(url)
    sec = {"Authorization": f"Bearer {tenant.secret_token}"}
    pub = {"Authorization": f"Bearer {tenant.public_key}"}
    items = [{"id": f"i{n}", "name": f"Item {n}", "price": n} for n in range(2_000)]
    assert httpx.put(server.url + "/v1/items", json=items, headers=sec).status_code == 200
    assert httpx.patch(server.url + "/v1/items/i7", json={"name": "Seven"},
                       headers=sec).status_code == 200
    assert httpx.put(server.url + "/v1/pods/seen", json={"strategy": "recently_viewed"},
                     headers=sec).status_code == 201
    events = [{"event_id": f"e{n}", "type": "view", "session_id": f"s{n % 10}",
               "item_id": f"i{n}", "timestamp": 1_700_000_000 + n} for n in range(1_000)]
    r = httpx.post(server.url + "/v1/events", json=events, headers=pub)
    assert r.status_code == 202 and r.json()["accepted"] == 1_000

    server.kill()  # SIGKILL right after the acknowledgements: no clean shutdown
    server.start()

    assert httpx.get(server.url + "/v1/items/i1999", headers=sec).json()["price"] == 1999
    assert httpx.get(server.url + "/v1/items/i7", headers=sec).json()["name"] == "Seven"
    assert httpx.get(server.url + "/v1/pods/seen", headers=sec).status_code == 200
    again = httpx.post(server.url + "/v1/events", json=events, headers=pub).json()
    assert (again["accepted"], again["duplicated"]) == (0, 1_000)
    recs = httpx.get(server.url + "/v1/pods/seen/recommendations",
                     params={"session_id": "s3", "num_results": 3}, headers=pub).json()
    assert [r["id"] for r in recs["results"]] == ["i993", "i983", "i973"]


def test_rejected_bulk_upsert_leaves_store_unchanged(
        tmp_path: Path, start_server: Callable[..., Server]) -> None:
    url = f"file://{tmp_path / 'store'}"
    tenant = create_tenant(url, "shop")
    server = start_server(url)
    sec = {"Authorization": f"Bearer {tenant.secret_token}"}
    httpx.put(server.url + "/v1/items", json=[{"id": "keep", "price": 1}], headers=sec)
    bad = [{"id": "keep", "price": 2}] + [{"id": f"n{i}"} for i in range(100)] + \
        [{"id": "broken", "price": "free"}]
    assert httpx.put(server.url + "/v1/items", json=bad, headers=sec).status_code == 422
    server.kill()
    server.start()
    assert httpx.get(server.url + "/v1/items/keep", headers=sec).json()["price"] == 1
    assert httpx.get(server.url + "/v1/items/n0", headers=sec).status_code == 404
