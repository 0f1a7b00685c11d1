"""``endcap serve`` replicas on shared Redis: models swap everywhere, roll back, and a
Redis outage under load degrades service instead of breaking it."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, create_tenant, endcap, unique_prefix
from tests.redis_servers import RedisServer


class _Load:
    """Recommendations and events from two threads until ``finish()`` (bounded)."""

    def __init__(self, url: str, auth: dict[str, str]) -> None:
        self.url, self.auth = url, auth
        self.recs: list[int] = []
        self.failures: list[str] = []  # the bodies of recommendations that were not 200
        self.events: list[int] = []
        self.degraded = 0
        self.retry_after_missing = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._recs), threading.Thread(target=self._ev)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def finish(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def _recs(self) -> None:
        with httpx.Client(headers=self.auth, timeout=10) as c:
            for n in range(5_000):
                if self._stop.is_set():
                    return
                r = c.get(self.url + "/v1/pods/top/recommendations",
                          params={"user_id": f"u{n % 7}"})
                self.recs.append(r.status_code)
                if r.status_code != 200:
                    self.failures.append(r.text)
                self.degraded += r.status_code == 200 and r.json()["degraded"]

    def _ev(self) -> None:
        with httpx.Client(headers=self.auth, timeout=10) as c:
            for n in range(5_000):
                if self._stop.is_set():
                    return
                r = c.post(self.url + "/v1/events", json={
                    "event_id": f"load-{n}", "type": "view", "user_id": f"u{n % 7}",
                    "item_id": f"i{n % 50}"})
                self.events.append(r.status_code)
                self.retry_after_missing += r.status_code == 503 and \
                    not r.headers.get("Retry-After", "").isdigit()
                time.sleep(0.005)


def _versions(servers: list[Server], auth: dict[str, str]) -> set[str | None]:
    return {httpx.get(s.url + "/v1/pods/top/recommendations", headers=auth).json()
            ["model_version"] for s in servers}


def _wait_for(servers: list[Server], auth: dict[str, str], version: str) -> None:
    deadline = time.monotonic() + 15
    while _versions(servers, auth) != {version}:
        assert time.monotonic() < deadline, f"replicas did not switch to {version}"
        time.sleep(0.1)


@pytest.mark.parametrize("backend", ["redis_server", "redis_cluster"])
def test_replicas_swap_models_and_roll_back(backend: str, request: pytest.FixtureRequest,
                                            tmp_path: Path,
                                            start_server: Callable[..., Server]) -> None:
    url = f"{request.getfixturevalue(backend)}?prefix={unique_prefix()}"
    shop = tmp_path / "shop"
    endcap("generate", "--items", "200", "--shoppers", "100", "--events", "2000",
           "--seed", "5", "--out", str(shop))
    tenant = create_tenant(url, "shop")
    assert "2000 new events" in endcap("load", "--store", url, "--tenant", "shop",
                                       "--dir", str(shop))
    first = endcap("train", "--store", url).split("published model ")[1].split()[0]
    replicas = [start_server(url), start_server(url)]
    auth = {"Authorization": f"Bearer {tenant.secret_token}"}
    httpx.put(replicas[0].url + "/v1/pods/top", json={"strategy": "bestsellers"},
              headers=auth).raise_for_status()
    _wait_for(replicas, auth, first)

    # Nothing new since the first model: the gate has no evidence and publishes.
    second = endcap("train", "--store", url).split("published model ")[1].split()[0]
    assert second != first
    _wait_for(replicas, auth, second)
    listed = endcap("models", "list", "--store", url, "--tenant", "shop").splitlines()
    assert len(listed) == 3  # a header, then oldest first, * on the one served
    assert listed[1].split()[0] == first and listed[2].split()[:2] == ["*", second]

    assert f"now serving {first}" in endcap("models", "rollback", "--store", url,
                                            "--tenant", "shop")
    _wait_for(replicas, auth, first)


def test_redis_outage_degrades_then_recovers(tmp_path: Path,
                                             start_server: Callable[..., Server]) -> None:
    redis = RedisServer(tmp_path, aof=True)  # its own server: this test stops it
    try:
        url = f"{redis.url}?prefix={unique_prefix()}&timeout=0.5"
        tenant = create_tenant(url, "shop")
        server = start_server(url)
        sec = {"Authorization": f"Bearer {tenant.secret_token}"}
        pub = {"Authorization": f"Bearer {tenant.public_key}"}
        items = [{"id": f"i{n}", "name": f"Item {n}"} for n in range(50)]
        httpx.put(server.url + "/v1/items", json=items, headers=sec).raise_for_status()
        httpx.put(server.url + "/v1/pods/top", json={"strategy": ["recently_viewed",
                                                                  "bestsellers"]},
                  headers=sec).raise_for_status()
        events = [{"event_id": f"p{n}", "type": "purchase", "user_id": f"u{n % 7}",
                   "items": [{"id": f"i{n % 10}"}]} for n in range(200)]
        assert httpx.post(server.url + "/v1/events", json=events,
                          headers=pub).status_code == 202
        endcap("train", "--store", url)
        rec = server.url + "/v1/pods/top/recommendations"
        deadline = time.monotonic() + 15
        while httpx.get(rec, headers=pub).json()["model_version"] is None:
            assert time.monotonic() < deadline, "the server did not load the model"
            time.sleep(0.1)
        warm = httpx.get(rec, params={"user_id": "u1"}, headers=pub).json()
        assert warm["total"] > 0 and warm["degraded"] is False

        assert httpx.get(server.url + "/readyz").json()["status"] == "ready"
        load = _Load(server.url, pub)
        load.start()
        time.sleep(0.3)
        redis.stop()
        for _ in range(20):
            r = httpx.get(rec, params={"user_id": "u1"}, headers=pub, timeout=10)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["degraded"] is True
            assert [x["strategy"] for x in body["results"]] == ["bestsellers"] * body["total"]
            assert body["total"] > 0
            e = httpx.post(server.url + "/v1/events", headers=pub, timeout=10,
                           json={"event_id": "late", "type": "view", "user_id": "u1",
                                 "item_id": "i1"})
            assert e.status_code == 503 and e.headers["Retry-After"].isdigit(), e.text
            assert e.json()["error"]["code"] == "store_unavailable"
        ready = httpx.get(server.url + "/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        metrics = httpx.get(server.url + "/metrics").text
        degraded = re.search(r"^endcap_api_degraded_responses_total (\S+)$", metrics, re.M)
        assert degraded and float(degraded.group(1)) >= 20

        redis.start()
        deadline = time.monotonic() + 15
        while True:
            e = httpx.post(server.url + "/v1/events", headers=pub,
                           json={"event_id": "late", "type": "view", "user_id": "u1",
                                 "item_id": "i1"})
            if e.status_code == 202:
                break
            assert e.status_code == 503 and time.monotonic() < deadline, e.text
            time.sleep(0.1)
        assert e.json()["accepted"] == 1
        time.sleep(0.3)
        load.finish()
        # Under load through the outage: recommendations always answered, events
        # acknowledged or refused with 503 + Retry-After, nothing else.
        assert load.recs and set(load.recs) == {200}, load.failures
        assert load.degraded > 0 and load.degraded < len(load.recs)
        assert set(load.events) <= {202, 503} and {202, 503} <= set(load.events)
        assert load.retry_after_missing == 0
        body = httpx.get(rec, params={"user_id": "u1"}, headers=pub).json()
        assert body["degraded"] is False and body["total"] > 0
        # nothing acknowledged before the outage was lost (append-only file, fsync always)
        again = httpx.post(server.url + "/v1/events", json=events, headers=pub).json()
        assert again.get("duplicated") == len(events), again
    finally:
        redis.stop()
