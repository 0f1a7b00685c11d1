"""Real time across processes: two ``serve`` replicas and two ``stream`` workers on one
Redis; a view sent to replica A changes what replica B serves."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, create_tenant, endcap, unique_prefix


@pytest.fixture
def start_stream(tmp_path: Path) -> Iterator[Callable[[str, str], subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(url: str, name: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"stream-{name}.log").open("ab")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "endcap.cli.main", "stream", "--store", url,
             "--consumer", name, "--metrics-port", "0", "--block-ms", "100"],
            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)))
        return procs[-1]

    yield start
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


@pytest.mark.parametrize("backend", ["redis_server", "redis_cluster"])
def test_a_view_on_one_replica_changes_the_other(
        backend: str, request: pytest.FixtureRequest, start_server: Callable[..., Server],
        start_stream: Callable[[str, str], subprocess.Popen[bytes]]) -> None:
    url = f"{request.getfixturevalue(backend)}?prefix={unique_prefix()}&sync_seconds=0.2"
    tenant = create_tenant(url, "shop")
    a, b = start_server(url), start_server(url)
    start_stream(url, "w1")
    start_stream(url, "w2")
    sec = {"Authorization": f"Bearer {tenant.secret_token}"}
    pub = {"Authorization": f"Bearer {tenant.public_key}"}
    items = [{"id": f"i{n}", "name": f"Item {n}"} for n in range(20)]
    httpx.put(a.url + "/v1/items", json=items, headers=sec).raise_for_status()
    for pod, strategy in (("seen", "recently_viewed"), ("mine", "for_you")):
        httpx.put(a.url + f"/v1/pods/{pod}", json={"strategy": strategy},
                  headers=sec).raise_for_status()

    def seen_on_b(session: str) -> list[str]:
        r = httpx.get(b.url + "/v1/pods/seen/recommendations",
                      params={"session_id": session}, headers=pub)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["results"]]

    for n, item in enumerate(["i3", "i7", "i5"]):
        session = f"s{n}"
        assert seen_on_b(session) == []
        sent = time.monotonic()
        r = httpx.post(a.url + "/v1/events", headers=pub,
                       json={"event_id": f"e{n}", "type": "view", "session_id": session,
                             "item_id": item})
        assert r.status_code == 202 and r.json()["accepted"] == 1
        while seen_on_b(session) != [item]:
            assert time.monotonic() - sent < 10, "the view never reached replica B"
            time.sleep(0.01)

    # for_you on B: the model's neighbours of what the shopper just viewed on A
    pairs = [{"event_id": f"p{k}-{n}-{j}", "type": "view", "session_id": f"p{k}-{n}",
              "item_id": f"i{2 * k + j}"} for k in range(10) for n in range(5) for j in (0, 1)]
    httpx.post(a.url + "/v1/events", json=pairs, headers=pub).raise_for_status()
    endcap("train", "--store", url)

    def for_you_on_b() -> tuple[str | None, list[str]]:
        r = httpx.get(b.url + "/v1/pods/mine/recommendations", params={"user_id": "ann"},
                      headers=pub).json()
        return r["model_version"], [x["id"] for x in r["results"]]

    deadline = time.monotonic() + 15
    while for_you_on_b()[0] is None:
        assert time.monotonic() < deadline, "replica B did not load the model"
        time.sleep(0.05)
    assert for_you_on_b()[1] == []
    httpx.post(a.url + "/v1/events", headers=pub, json={
        "event_id": "ann-1", "type": "view", "user_id": "ann", "item_id": "i4"}
    ).raise_for_status()
    deadline = time.monotonic() + 10
    while for_you_on_b()[1][:1] != ["i5"]:
        assert time.monotonic() < deadline, for_you_on_b()
        time.sleep(0.02)
