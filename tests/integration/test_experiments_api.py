"""Experiments through a real ``endcap serve``: lifecycle, sticky assignment, report."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, Tenant, clients, create_tenant, endcap
from tests.integration.test_api import ITEMS, purchase

EXPERIMENT = {"pod_id": "home", "variants": [
    {"id": "control", "share": 0.5, "strategy": "bestsellers"},
    {"id": "new", "share": 0.5, "strategy": ["for_you", "bestsellers"]}]}


@pytest.fixture
def shop(tmp_path: Path, start_server: Callable[..., Server]
         ) -> Iterator[tuple[Server, httpx.Client, httpx.Client]]:
    url = f"file://{tmp_path / 'store'}"
    tenant: Tenant = create_tenant(url, "shop")
    server = start_server(url)
    pub, sec = clients(server.url, tenant, timeout=30)
    sec.put("/v1/items", json=ITEMS)
    sec.put("/v1/pods/home", json={"strategy": "bestsellers"})
    pub.post("/v1/events", json=[purchase(f"p{i}", f"buyer{i}", 1_700_000_000 + i,
                                          "mug-red", "teapot") for i in range(5)])
    endcap("train", "--store", url, "--no-embed")
    time.sleep(0.5)
    yield server, pub, sec
    pub.close()
    sec.close()


def test_lifecycle_assignment_and_report(shop: tuple[Server, httpx.Client, httpx.Client],
                                         tmp_path: Path) -> None:
    server, pub, sec = shop
    r = sec.put("/v1/experiments/exp1", json={**EXPERIMENT, "mde": 0.2, "max_shoppers": 30})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "draft" and r.json()["control"] == "control", r.text
    assert (r.json()["mde"], r.json()["max_shoppers"]) == (0.2, 30)
    # Not running yet: no variant.
    assert pub.get("/v1/pods/home/recommendations", params={"user_id": "u1"}
                   ).json()["variant"] is None
    assert sec.post("/v1/experiments/exp1/start").json()["status"] == "running"

    seen: dict[str, str] = {}
    for k in range(40):
        user = f"u{k}"
        body = pub.get("/v1/pods/home/recommendations", params={"user_id": user}).json()
        seen[user] = body["variant"]
        # Sticky: the same shopper always gets the same variant.
        again = pub.get("/v1/pods/home/recommendations", params={"user_id": user}).json()
        assert again["variant"] == body["variant"]
        items = [res["id"] for res in body["results"]]
        assert items
        events = [{"event_id": f"imp-{user}", "type": "impression", "user_id": user,
                   "pod_id": "home", "result_id": body["result_id"],
                   "variant": body["variant"], "items": [{"id": i} for i in items]},
                  {"event_id": f"clk-{user}", "type": "click", "user_id": user,
                   "item_id": items[0], "pod_id": "home", "result_id": body["result_id"]}]
        if k % 2 == 0:
            events.append({"event_id": f"buy-{user}", "type": "purchase", "user_id": user,
                           "items": [{"id": items[0], "quantity": 2, "price": 10.0}]})
        assert pub.post("/v1/events", json=events).status_code == 202
    assert set(seen.values()) == {"control", "new"}
    # A duplicate event credits nothing more.
    assert pub.post("/v1/events", json={"event_id": "clk-u0", "type": "click",
                                        "user_id": "u0", "item_id": "mug-red"}
                    ).json()["duplicated"] == 1

    # A running variant's share cannot shrink; growing into free traffic is refused here
    # because both shares already sum to 1.
    shrink = {**EXPERIMENT, "variants": [{**EXPERIMENT["variants"][0], "share": 0.3},
                                         EXPERIMENT["variants"][1]]}
    assert sec.put("/v1/experiments/exp1", json=shrink).status_code == 409

    rep = sec.get("/v1/experiments/exp1/report").json()
    by = {v["id"]: v for v in rep["variants"]}
    counts = {name: sum(1 for v in seen.values() if v == name) for name in by}
    for name, v in by.items():
        assert v["shoppers"] == counts[name] == v["impressions"] == v["clicks"]
        buyers = sum(1 for u, var in seen.items() if var == name and int(u[1:]) % 2 == 0)
        assert v["purchases"] == v["converted"] == buyers
        assert v["revenue"] == pytest.approx(20.0 * buyers)
        assert v["clicks_view_through"] == 0 and v["purchases_view_through"] == buyers
    assert rep["comparisons"][0]["variant"] == "new"
    assert 0 <= rep["comparisons"][0]["p_value"] <= 1
    assert rep["sample_ratio_mismatch"] is False
    # 40 shoppers passed the declared horizon of 30 without a significant difference.
    assert (rep["mde"], rep["max_shoppers"]) == (0.2, 30)
    assert rep["decision"] == "no_difference" and rep["decided_shoppers"] == 40, rep
    assert rep["comparisons"][0]["tau"] > 0

    # The same report from the CLI, as a table and as CSV.
    out = endcap("experiments", "report", "exp1", "--store", server.store_url, "--tenant",
                 "shop", "--csv", str(tmp_path / "report.csv"))
    assert "decision:" in out and "always-valid p" in out
    with (tmp_path / "report.csv").open() as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    assert {k: int(r["shoppers"]) for k, r in rows.items()} == {
        k: v["shoppers"] for k, v in by.items()}
    assert "exp1" in endcap("experiments", "list", "--store", server.store_url,
                            "--tenant", "shop")

    assert sec.post("/v1/experiments/exp1/stop").json()["status"] == "stopped"
    assert pub.get("/v1/pods/home/recommendations", params={"user_id": "u1"}
                   ).json()["variant"] is None
    assert sec.get("/v1/pods/home").json()["experiment"] == {"id": "exp1",
                                                             "status": "stopped"}
    assert sec.put("/v1/experiments/exp2", json=EXPERIMENT).status_code == 409
    assert sec.put("/v1/experiments/exp2?replace=1", json=EXPERIMENT).status_code == 201
    assert [e["id"] for e in sec.get("/v1/experiments").json()["experiments"]] == ["exp2"]


def test_bad_experiments_are_refused(shop: tuple[Server, httpx.Client, httpx.Client]
                                     ) -> None:
    _, _, sec = shop
    bad = [
        ({**EXPERIMENT, "pod_id": "nope"}, 404),
        ({**EXPERIMENT, "variants": EXPERIMENT["variants"][:1]}, 422),
        ({**EXPERIMENT, "control": "ghost"}, 422),
        ({**EXPERIMENT, "variants": [{**v, "share": 0.8} for v in EXPERIMENT["variants"]]},
         422),
        ({**EXPERIMENT, "variants": [{**v, "id": "same"} for v in EXPERIMENT["variants"]]},
         422),
        ({**EXPERIMENT, "mde": 0}, 422),
        ({**EXPERIMENT, "max_shoppers": 1}, 422),
    ]
    for body, status in bad:
        r = sec.put("/v1/experiments/x", json=body)
        assert r.status_code == status, (body, r.text)
    assert sec.get("/v1/experiments").json()["experiments"] == []
    assert sec.post("/v1/experiments/x/start").status_code == 404
