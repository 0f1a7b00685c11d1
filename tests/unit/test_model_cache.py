"""ModelCache over a memory:// store: serving, swapping, rollback, bad artifacts."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Awaitable, Callable

import numpy as np
import pytest

from endcap.api.model_cache import ModelCache
from endcap.catalog.model import Item
from endcap.events.model import Event, Line
from endcap.store.protocol import Store
from endcap.store.url import open_store
from endcap.train.fit import fit_model
from endcap.train.model import Model

T0 = 1_700_000_000.0


def fitted(version: str, sales: dict[str, int]) -> Model:
    """A small model whose bestseller scores are exactly ``sales`` (one-unit purchases,
    all at T0, so each weighs 1)."""
    items = [Item(id=i, name=f"{i} thing", categories=["Home"]) for i in "ABCD"]
    buys = [iid for iid, times in sales.items() for _ in range(times)]
    events = [Event(event_id=f"{version}-{k}", type="purchase", user_id=f"u{k}",
                    items=[Line(id=iid)], timestamp=T0) for k, iid in enumerate(buys)]
    return fit_model(items, events, version=version, now=T0)


V1 = fitted("v1", {"A": 3, "B": 1})
V2 = fitted("v2", {"C": 2, "D": 5, "A": 1})


def check_complete(got: Model | None, want: Model) -> None:
    """``got`` is a whole, loaded copy of ``want``."""
    assert got is not None
    assert got.version == want.version
    assert got.item_ids == want.item_ids == ["A", "B", "C", "D"]
    assert got.index == {"A": 0, "B": 1, "C": 2, "D": 3}
    np.testing.assert_array_equal(got.bestsellers, want.bestsellers)
    np.testing.assert_array_equal(got.bestseller_order, want.bestseller_order)
    assert sorted(got.category_order) == sorted(want.category_order) == ["Home"]
    for name in ("alternatives", "complements", "related"):
        np.testing.assert_array_equal(getattr(got, name).idx, getattr(want, name).idx)
        np.testing.assert_array_equal(getattr(got, name).score, getattr(want, name).score)


def with_store(body: Callable[[Store], Awaitable[None]]) -> None:
    async def go() -> None:
        store = open_store("memory://")
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(go())


def test_the_two_versions_differ_as_built() -> None:
    # v1: A 3, B 1 -> order A B; v2: A 1, C 2, D 5 -> order D C A.
    assert V1.bestsellers.tolist() == [3.0, 1.0, 0.0, 0.0]
    assert V1.bestseller_order.tolist() == [0, 1]
    assert V2.bestsellers.tolist() == [1.0, 0.0, 2.0, 5.0]
    assert V2.bestseller_order.tolist() == [3, 2, 0]


def test_refresh_serves_the_current_version_then_swaps_to_a_new_one() -> None:
    async def body(store: Store) -> None:
        cache = ModelCache(store)
        await store.publish_model("t", "v1", V1.to_bytes())
        got = await cache.refresh("t")
        check_complete(got, V1)
        assert cache.get("t") is got
        assert cache.known("t")

        # Nothing new: the same object, not a reload.
        assert await cache.refresh("t") is got
        assert cache.get("t") is got

        await store.publish_model("t", "v2", V2.to_bytes())
        assert cache.get("t") is got  # not before the next refresh
        new = await cache.refresh("t")
        check_complete(new, V2)
        assert new is not None and cache.get("t") is new
        assert [new.item_ids[i] for i in new.bestseller_order] == ["D", "C", "A"]

    with_store(body)


def test_rollback_serves_the_earlier_version_again() -> None:
    async def body(store: Store) -> None:
        cache = ModelCache(store)
        await store.publish_model("t", "v1", V1.to_bytes())
        await store.publish_model("t", "v2", V2.to_bytes())
        check_complete(await cache.refresh("t"), V2)
        assert await store.set_current_model("t", "v1")
        got = await cache.refresh("t")
        check_complete(got, V1)
        assert cache.get("t") is got
        # An unknown version cannot be made current; v1 stays served.
        assert not await store.set_current_model("t", "v9")
        assert await cache.refresh("t") is got
        # Forward again.
        assert await store.set_current_model("t", "v2")
        check_complete(await cache.refresh("t"), V2)

    with_store(body)


def test_a_tenant_without_a_model_is_none_and_known_after_refresh() -> None:
    async def body(store: Store) -> None:
        cache = ModelCache(store)
        assert cache.get("new") is None
        assert not cache.known("new")
        assert await cache.refresh("new") is None
        assert cache.known("new")
        assert cache.get("new") is None
        # Its first model is picked up by the next refresh.
        await store.publish_model("new", "v1", V1.to_bytes())
        check_complete(await cache.refresh("new"), V1)

    with_store(body)


def test_tenants_are_served_separately() -> None:
    async def body(store: Store) -> None:
        cache = ModelCache(store)
        await store.publish_model("a", "v1", V1.to_bytes())
        await store.publish_model("b", "v2", V2.to_bytes())
        check_complete(await cache.refresh("a"), V1)
        assert not cache.known("b") and cache.get("b") is None
        check_complete(await cache.refresh("b"), V2)
        check_complete(cache.get("a"), V1)
        assert await cache.refresh("c") is None
        assert cache.known("c") and cache.get("c") is None

    with_store(body)


@pytest.mark.parametrize("artifact", [
    b"garbage",
    b"",
    V2.to_bytes()[:200],   # a truncated archive
], ids=["garbage", "empty", "truncated"])
def test_a_corrupt_artifact_raises_and_the_old_model_stays_served(artifact: bytes) -> None:
    async def body(store: Store) -> None:
        cache = ModelCache(store)
        await store.publish_model("t", "v1", V1.to_bytes())
        served = await cache.refresh("t")
        await store.publish_model("t", "bad", artifact)
        with pytest.raises(Exception):  # noqa: B017 - whatever the parser raises
            await cache.refresh("t")
        assert cache.get("t") is served
        check_complete(cache.get("t"), V1)
        assert cache.known("t")
        # Still failing on the next try, still serving v1...
        with pytest.raises(Exception):  # noqa: B017
            await cache.refresh("t")
        assert cache.get("t") is served
        # ...until a good version is published.
        await store.publish_model("t", "v2", V2.to_bytes())
        check_complete(await cache.refresh("t"), V2)

    with_store(body)


def test_an_artifact_of_an_unknown_format_is_refused() -> None:
    with np.load(io.BytesIO(V2.to_bytes())) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["meta"].tobytes().decode())
    meta["format"] = 99
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)

    async def body(store: Store) -> None:
        cache = ModelCache(store)
        await store.publish_model("t", "v1", V1.to_bytes())
        served = await cache.refresh("t")
        await store.publish_model("t", "v2", buf.getvalue())
        with pytest.raises(ValueError, match="unsupported model format 99"):
            await cache.refresh("t")
        assert cache.get("t") is served

    with_store(body)


def test_a_corrupt_first_artifact_serves_nothing_until_a_good_one() -> None:
    async def body(store: Store) -> None:
        cache = ModelCache(store)
        await store.publish_model("t", "bad", b"garbage")
        with pytest.raises(Exception):  # noqa: B017
            await cache.refresh("t")
        assert cache.get("t") is None
        assert cache.known("t")  # still polled, so a good version will be picked up
        # a request is served without a model rather than failed
        assert await cache.ensure("t") is None
        await store.publish_model("t", "v1", V1.to_bytes())
        check_complete(await cache.refresh("t"), V1)
        assert await cache.ensure("t") is not None

    with_store(body)


def test_requests_see_the_old_model_while_the_new_one_loads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    started = threading.Event()
    release = threading.Event()
    real = Model.from_bytes

    def slow(data: bytes) -> Model:
        started.set()
        assert release.wait(5)
        return real(data)

    async def body(store: Store) -> None:
        cache = ModelCache(store)
        await store.publish_model("t", "v1", V1.to_bytes())
        old = await cache.refresh("t")
        await store.publish_model("t", "v2", V2.to_bytes())
        monkeypatch.setattr(Model, "from_bytes", staticmethod(slow))
        task = asyncio.create_task(cache.refresh("t"))
        # The load runs off the loop: the loop keeps running and serves v1 meanwhile.
        while not started.is_set():
            await asyncio.sleep(0.001)
        for _ in range(5):
            await asyncio.sleep(0)
            assert cache.get("t") is old
        release.set()
        new = await task
        check_complete(new, V2)
        assert cache.get("t") is new

    with_store(body)


def test_run_polls_known_tenants_and_survives_a_bad_artifact() -> None:
    async def wait_for(cond: Callable[[], bool]) -> None:
        for _ in range(500):
            if cond():
                return
            await asyncio.sleep(0.005)
        raise AssertionError("condition not met in time")

    async def body(store: Store) -> None:
        cache = ModelCache(store, poll_seconds=0.005)
        await store.publish_model("t", "v1", V1.to_bytes())
        assert await cache.refresh("t") is not None
        assert await cache.refresh("empty") is None
        task = asyncio.create_task(cache.run())
        try:
            await store.publish_model("t", "bad", b"garbage")
            await asyncio.sleep(0.05)  # several polls, each failing
            assert not task.done()
            check_complete(cache.get("t"), V1)
            await store.publish_model("t", "v2", V2.to_bytes())
            await store.publish_model("empty", "v1", V1.to_bytes())
            await wait_for(lambda: getattr(cache.get("t"), "version", None) == "v2"
                           and cache.get("empty") is not None)
            check_complete(cache.get("t"), V2)
            check_complete(cache.get("empty"), V1)
            # A tenant never asked for is not polled.
            await store.publish_model("other", "v1", V1.to_bytes())
            await asyncio.sleep(0.03)
            assert not cache.known("other")
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    with_store(body)
