"""The Redis back-end when its server stalls or restarts: every call is bounded by the
URL's timeout, fails as "unavailable", and works again once Redis answers."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from endcap.events.model import Event
from endcap.pods.model import Pod
from endcap.store.redis import RedisStore, StoreUnavailable
from endcap.store.url import open_store
from tests.conftest import unique_prefix
from tests.redis_servers import RedisServer


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, which it may stop, stall or fill."""
    server = RedisServer(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def test_a_stalled_or_restarted_redis_fails_fast_and_recovers(redis: RedisServer) -> None:
    async def go() -> None:
        store = open_store(f"{redis.url}?prefix=stall&timeout=0.3")
        e = Event(event_id="e1", type="view", user_id="u", item_id="a", timestamp=1.0)
        await store.append("t", [e])
        await store.apply("t", [e])
        assert (await store.histories("t", ["u:u"]))[0].events[0][2] == "a"

        assert redis.proc is not None
        redis.proc.send_signal(signal.SIGSTOP)  # alive but silent
        try:
            start = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await store.histories("t", ["u:u"])
            with pytest.raises(StoreUnavailable):
                await store.append("t", [e])
            assert time.monotonic() - start < 5
        finally:
            redis.proc.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.6)  # past the breaker
        assert (await store.histories("t", ["u:u"]))[0].events[0][2] == "a"

        redis.restart()  # no persistence: a fresh, empty server with no scripts loaded
        await asyncio.sleep(0.6)
        for _ in range(20):  # the first call after a restart may find a dead socket
            try:
                got = await store.histories("t", ["u:u"])
                break
            except StoreUnavailable:
                await asyncio.sleep(0.6)
        assert got[0].events == []
        assert await store.append("t", [e]) == [True]
        await store.close()

    asyncio.run(go())


def test_a_stale_cluster_slot_map_is_rerouted(redis_cluster: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """The hot path asks the node redis-py's slot map names; when that node answers
    MOVED, the read goes through redis-py instead, and the answer is still right."""

    async def go() -> None:
        store = open_store(f"{redis_cluster}?prefix={unique_prefix()}")
        events = [Event(event_id=f"e{n}", type="view", user_id=f"u{n}", item_id="a",
                        timestamp=1.0) for n in range(20)]
        await store.append("t", events)
        await store.apply("t", events)
        client: Any = store.client  # type: ignore[attr-defined]
        nodes = client.get_primaries()
        right = client.get_node_from_key
        wrong = {n.name: next(m for m in nodes if m.name != n.name) for n in nodes}
        client.get_node_from_key = lambda key: wrong[right(key).name]  # a stale map
        with caplog.at_level(logging.DEBUG, logger="endcap.store.redis"):
            got = await store.histories("t", [f"u:u{n}" for n in range(20)])
        assert [h.events[0][2] for h in got] == ["a"] * 20
        assert "MOVED" in caplog.text  # the fast path was turned away, redis-py rerouted
        await store.close()

    asyncio.run(go())


def test_a_full_redis_refuses_writes_as_unavailable_and_still_serves_reads(
        redis: RedisServer) -> None:
    async def go() -> None:
        store = open_store(f"{redis.url}?prefix=full")
        e = Event(event_id="e1", type="view", user_id="u", item_id="a", timestamp=1.0)
        await store.append("t", [e])
        await store.apply("t", [e])
        client: Any = store.client  # type: ignore[attr-defined]
        await client.config_set("maxmemory-policy", "noeviction")
        await client.config_set("maxmemory", "1")  # everything is over the limit
        try:
            with pytest.raises(StoreUnavailable, match="full"):
                await store.append("t", [Event(event_id="e2", type="view", user_id="u",
                                               item_id="b", timestamp=2.0)])
            (h,) = await store.histories("t", ["u:u"])  # read-only: still served
            assert [x[2] for x in h.events] == ["a"]
        finally:
            await client.config_set("maxmemory", "0")
        await store.close()

    asyncio.run(go())


def test_a_pod_changed_elsewhere_still_serves_while_redis_is_down(
        redis: RedisServer) -> None:
    """A change note from another replica drops this replica's cached pod; if the store
    is down when the pod is next needed, the last known copy serves rather than a 503.
    Syncing with no new change keeps what is cached (the last note is not re-applied)."""
    async def go() -> None:
        url = f"{redis.url}?prefix=stale&timeout=0.3&sync_seconds=0.05"
        here, there = open_store(url), open_store(url)
        assert isinstance(here, RedisStore)
        await here.put_pod("t", Pod(id="top", strategy=["bestsellers"]))
        assert (await here.get_pod("t", "top")) is not None
        hits = here.cache.stats["pods"].hits
        for _ in range(3):  # syncs with no new change: every lookup is a cache hit
            await asyncio.sleep(0.06)
            assert (await here.get_pod("t", "top")) is not None
        assert here.cache.stats["pods"].hits == hits + 3

        await there.put_pod("t", Pod(id="top", strategy=["trending"]))
        await asyncio.sleep(0.06)
        assert (await here.get_pod("t", "top")).strategy == ["trending"]  # type: ignore[union-attr]
        await there.put_pod("t", Pod(id="top", strategy=["recently_viewed"]))
        await asyncio.sleep(0.06)
        await here.get_items("t", ["x"])  # syncs: the change note drops the cached pod
        redis.stop()
        stale = await here.get_pod("t", "top")
        assert stale is not None and stale.strategy == ["trending"]
        with pytest.raises(StoreUnavailable):  # a pod never seen cannot be made up
            await here.get_pod("t", "other")
        await here.close()
        await there.close()

    asyncio.run(go())
