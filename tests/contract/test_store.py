"""One contract for every store back-end: embedded (memory, file), Redis, Redis Cluster."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from endcap.catalog.model import Item, ItemPatch
from endcap.events.model import Event, Line
from endcap.pods.model import Pod
from endcap.store.protocol import Store, Tenant
from endcap.store.url import StoreURLError, open_store
from tests.conftest import unique_prefix


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture(params=["memory", "file", "redis", "tls", "cluster"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path
               ) -> Iterator[Callable[[], Store]]:
    """Opens the back-end; a second call opens the same state again (another process)."""
    if request.param == "memory":
        url = "memory://"
    elif request.param == "file":
        url = f"file://{tmp_path / 'db'}"
    else:
        base = request.getfixturevalue({"redis": "redis_server", "tls": "redis_tls",
                                        "cluster": "redis_cluster"}[request.param])
        url = f"{base}{'&' if '?' in base else '?'}prefix={unique_prefix()}&sync_seconds=0"
    opened: list[Store] = []

    def make() -> Store:
        opened.append(open_store(url))
        return opened[-1]

    yield make


def view(eid: str, item: str, ts: float, user: str | None = None,
         session: str | None = "s") -> Event:
    return Event(event_id=eid, type="view", item_id=item, timestamp=ts, user_id=user,
                 session_id=session)


def test_tenants_and_keys(make_store: Callable[[], Store]) -> None:
    async def go() -> None:
        s = make_store()
        await s.create_tenant(Tenant(id="t", name="T", created_at=1.0), "pk", "sk")
        assert (await s.resolve_key("pk")).kind == "public"  # type: ignore[union-attr]
        cred = await s.resolve_key("sk")
        assert cred is not None and (cred.tenant_id, cred.kind) == ("t", "secret")
        assert await s.resolve_key("nope") is None
        with pytest.raises(ValueError):
            await s.create_tenant(Tenant(id="t", name="again", created_at=2.0), "a", "b")
        assert [t.id for t in await s.list_tenants()] == ["t"]
        assert (await s.get_tenant("t")) == Tenant(id="t", name="T", created_at=1.0)

    run(go())


def test_catalog(make_store: Callable[[], Store]) -> None:
    async def go() -> None:
        s = make_store()
        await s.upsert_items("t", [Item(id="a", price=1.0), Item(id="b", name="B")])
        await s.upsert_items("u", [Item(id="a", price=99.0)])
        got = await s.get_items("t", ["b", "zz", "a"])
        assert [i.id if i else None for i in got] == ["b", None, "a"]
        assert got[2] is not None and got[2].price == 1.0
        new = await s.patch_item("t", "a", ItemPatch(name="A", price=None))
        assert new is not None and (new.name, new.price) == ("A", None)
        assert await s.patch_item("t", "zz", ItemPatch(name="x")) is None
        assert await s.delete_item("t", "b") is True
        assert await s.delete_item("t", "b") is False
        assert [i.id for i in await s.all_items("t")] == ["a"]
        assert await s.count_items("t") == 1
        assert (await s.get_items("u", ["a"]))[0].price == 99.0  # type: ignore[union-attr]

    run(go())


def test_pods(make_store: Callable[[], Store]) -> None:
    async def go() -> None:
        s = make_store()
        assert await s.put_pod("t", Pod(id="p", strategy="bestsellers")) is True
        assert await s.put_pod("t", Pod(id="p", strategy="trending")) is False
        assert (await s.get_pod("t", "p")).strategy == "trending"  # type: ignore[union-attr]
        assert await s.get_pod("u", "p") is None
        assert [p.id for p in await s.list_pods("t")] == ["p"]
        assert await s.delete_pod("t", "p") is True
        assert await s.delete_pod("t", "p") is False

    run(go())


def test_event_log_is_idempotent_per_tenant(make_store: Callable[[], Store]) -> None:
    async def go() -> None:
        s = make_store()
        assert await s.append("t", [view("e1", "a", 1), view("e2", "b", 2)]) == [True, True]
        assert await s.append("t", [view("e2", "b", 2), view("e3", "c", 3)]) == [False, True]
        assert await s.append("u", [view("e1", "a", 1)]) == [True]
        assert [e.event_id for e in await s.read_events("t")] == ["e1", "e2", "e3"]
        assert await s.count_events("t") == 3
        purchase = Event(event_id="p", type="purchase", user_id="x", timestamp=4.0,
                         items=[Line(id="a", quantity=2, price=3.5)])
        await s.append("t", [purchase])
        assert (await s.read_events("t"))[-1] == purchase

    run(go())


def test_histories(make_store: Callable[[], Store]) -> None:
    async def go() -> None:
        s = make_store()
        events = [view("e1", "a", 1, user="u"), view("e2", "b", 2, session="s2"),
                  view("e3", "c", 3, user="u")]
        await s.append("t", events)
        await s.apply("t", events)
        bought = Event(event_id="e4", type="purchase", user_id="u", timestamp=4.0,
                       items=[Line(id="c"), Line(id="d", quantity=2)])
        await s.append("t", [bought])
        await s.apply("t", [bought])
        hu, hs, hx = await s.histories("t", ["u:u", "s:s2", "u:nobody"])
        assert [e[2] for e in hu.events] == ["a", "c", "c", "d"]
        assert hu.purchased == {"c": 4.0, "d": 4.0}
        assert hs.purchased == {} and hx.purchased == {}
        assert [e[2] for e in hs.events] == ["b"]
        assert hx.events == []
        assert (await s.histories("other", ["u:u"]))[0].events == []

    run(go())


def test_a_purchase_older_than_the_history_still_counts(
        make_store: Callable[[], Store]) -> None:
    """Bought, then MAX_EVENTS views of other items: the purchase has left the history,
    but the item is still bought (excluded), and a view after the purchase still shows
    it as recently viewed."""
    from endcap.stream.history import MAX_EVENTS

    async def go() -> None:
        s = make_store()
        bought = Event(event_id="p", type="purchase", user_id="u", timestamp=1.0,
                       items=[Line(id="old")])
        later = [view(f"v{i}", f"i{i}", 2.0 + i, user="u") for i in range(MAX_EVENTS)]
        again = view("again", "old", 3.0 + MAX_EVENTS, user="u")
        for batch in ([bought], later, [again]):
            await s.append("t", batch)
            await s.apply("t", batch)
        (h,) = await s.histories("t", ["u:u"])
        assert len(h.events) == MAX_EVENTS
        assert "old" in h.purchased and h.purchased["old"] < h.events[0][0]
        assert h.viewed_newest_first()[0] == ("old", 3.0 + MAX_EVENTS)

    run(go())


def test_models_publish_and_rollback(make_store: Callable[[], Store]) -> None:
    async def go() -> None:
        s = make_store()
        assert await s.current_model("t") is None
        await s.publish_model("t", "v1", b"one")
        await s.publish_model("t", "v2", b"two")
        assert await s.current_model("t") == "v2"
        assert await s.load_model("t", "v1") == b"one"
        assert await s.model_versions("t") == ["v1", "v2"]
        assert await s.set_current_model("t", "v1") is True
        assert await s.current_model("t") == "v1"
        assert await s.set_current_model("t", "v9") is False
        assert await s.current_model("u") is None

    run(go())


def test_artifact_kinds_are_separate(make_store: Callable[[], Store]) -> None:
    """Embeddings have their own versions and current pointer beside the model's."""
    async def go() -> None:
        s = make_store()
        await s.publish_model("t", "v1", b"model")
        assert await s.current_model("t", kind="embeddings") is None
        await s.publish_model("t", "e1", b"vectors", kind="embeddings")
        await s.publish_model("t", "e2", b"vectors 2", kind="embeddings")
        assert await s.current_model("t") == "v1"
        assert await s.current_model("t", kind="embeddings") == "e2"
        assert await s.model_versions("t") == ["v1"]
        assert await s.model_versions("t", kind="embeddings") == ["e1", "e2"]
        assert await s.load_model("t", "e1") is None
        assert await s.load_model("t", "e1", kind="embeddings") == b"vectors"
        assert await s.set_current_model("t", "v1", kind="embeddings") is False
        assert await s.set_current_model("t", "e1", kind="embeddings") is True
        assert await s.current_model("t", kind="embeddings") == "e1"
        assert await s.current_model("t") == "v1"

    run(go())


def test_file_store_reopens_with_everything(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'db'}"

    async def write() -> None:
        s = open_store(url)
        await s.create_tenant(Tenant(id="t", name="T", created_at=1.0), "pk", "sk")
        await s.upsert_items("t", [Item(id="a")])
        await s.put_pod("t", Pod(id="p", strategy="bestsellers"))
        events = [view("e1", "a", 1, user="u")]
        await s.append("t", events)
        await s.apply("t", events)
        await s.publish_model("t", "v1", b"m")
        await s.close()

    async def read() -> None:
        s = open_store(url)
        assert (await s.resolve_key("sk")) is not None
        assert (await s.get_items("t", ["a"]))[0] is not None
        assert await s.get_pod("t", "p") is not None
        assert (await s.histories("t", ["u:u"]))[0].events[0][2] == "a"
        assert await s.current_model("t") == "v1"
        assert await s.append("t", [view("e1", "a", 1)]) == [False]
        await s.close()

    run(write())
    run(read())


@pytest.mark.parametrize("url", [
    "redis+sentinel://x", "file://", "memory://?sync=maybe", "memory://?colour=red",
    "redis://127.0.0.1?shards=0", "redis://127.0.0.1?shards=many", "redis://127.0.0.1?colour=red",
    "redis://127.0.0.1?archive=s3://bucket/x", "redis://127.0.0.1?ssl_ca_certs=/ca.pem",
    "redis://127.0.0.1?prefix={x}", "redis://127.0.0.1?timeout=0"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(StoreURLError):
        open_store(url)


def test_batch_open_skips_histories_but_reads_the_log(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'db'}"

    async def write() -> None:
        s = open_store(url)
        events = [view("e1", "a", 1, user="u")]
        await s.append("t", events)
        await s.apply("t", events)
        await s.close()

    async def read() -> None:
        s = open_store(url, histories=False)
        assert [e.event_id for e in await s.read_events("t")] == ["e1"]
        with pytest.raises(RuntimeError):
            await s.histories("t", ["u:u"])
        await s.close()

    run(write())
    run(read())


def test_apply_twice_changes_nothing_twice(make_store: Callable[[], Store]) -> None:
    """Stream workers may be given a batch again (a reclaimed one): each event counts once."""

    async def go() -> None:
        s = make_store()
        if not s.streamed:
            pytest.skip("ingestion applies events once itself; nothing is redelivered")
        events = [view("e1", "a", 1, user="u"), view("e2", "b", 2, user="u")]
        await s.append("t", events)
        assert await s.apply("t", events) == 2
        assert await s.apply("t", [*events, view("e3", "c", 3, user="u")]) == 1
        (h,) = await s.histories("t", ["u:u"])
        assert [e[2] for e in h.events] == ["a", "b", "c"]

    run(go())


def test_another_process_sees_changes(make_store: Callable[[], Store]) -> None:
    """What one process writes, another that has cached the old state reads soon after."""

    async def go() -> None:
        a = make_store()
        await a.upsert_items("t", [Item(id="x", name="old")])
        await a.put_pod("t", Pod(id="p", strategy="bestsellers"))
        b = make_store() if a.streamed else a  # embedded: one process owns its state
        assert (await b.get_items("t", ["x"]))[0].name == "old"  # type: ignore[union-attr]
        assert (await b.get_pod("t", "p")).strategy == "bestsellers"  # type: ignore[union-attr]
        assert (await b.get_items("t", ["new"])) == [None]
        await a.patch_item("t", "x", ItemPatch(name="new"))
        await a.put_pod("t", Pod(id="p", strategy="trending"))
        await a.upsert_items("t", [Item(id="new")])
        await asyncio.sleep(0.01)
        assert (await b.get_items("t", ["x"]))[0].name == "new"  # type: ignore[union-attr]
        assert (await b.get_pod("t", "p")).strategy == "trending"  # type: ignore[union-attr]
        assert (await b.get_items("t", ["new"]))[0] is not None
        await a.delete_item("t", "x")
        assert (await b.get_items("t", ["x"])) == [None]

    run(go())


def test_the_log_reads_each_event_once_after_the_dedupe_window(
        make_store: Callable[[], Store]) -> None:
    """Redis forgets an event_id after ``dedupe_hours``; a copy sent later is logged again,
    but the log as the trainer reads it still holds the event once."""

    async def go() -> None:
        s = make_store()
        if not s.streamed:
            pytest.skip("the embedded log remembers every event_id forever")
        e = view("e1", "a", 1, user="u")
        assert await s.append("t", [e]) == [True]
        keys = s.keys  # type: ignore[attr-defined]
        shard = keys.shard_of("u:u")
        await s.client.delete(keys.seen("t", shard, "e1"))  # type: ignore[attr-defined]
        assert await s.append("t", [e]) == [True]
        assert [x.event_id for x in await s.read_events("t")] == ["e1"]

    run(go())


def test_processes_must_agree_on_the_shards(make_store: Callable[[], Store]) -> None:
    async def go() -> None:
        s = make_store()
        if not s.streamed:
            pytest.skip("the embedded store has no shards")
        await s.append("t", [view("e1", "a", 1)])
        from endcap.store.keys import Keys
        from endcap.store.redis import RedisStore, StoreMisconfigured

        assert isinstance(s, RedisStore)
        other = RedisStore(s.client, Keys(prefix=s.keys.prefix, shards=s.keys.shards + 1))
        with pytest.raises(StoreMisconfigured, match="shards"):
            await other.append("t", [view("e2", "a", 2)])
        with pytest.raises(StoreMisconfigured):
            await other.list_tenants()

    run(go())
