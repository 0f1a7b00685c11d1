"""The sub-commands. Each builds its settings and store, then runs one role."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec

from endcap.api.app import create_app
from endcap.cli import demo
from endcap.cli.runtime import run, serve, setup_logging
from endcap.settings import ServeSettings, load_settings
from endcap.store.embedded import EmbeddedStore, StoreBusy
from endcap.store.protocol import Store
from endcap.store.url import StoreURLError, open_store
from endcap.train.job import train_tenant

log = logging.getLogger("endcap")


def _open(url: str, *, writer: bool = False) -> Store:
    """The store at ``url``; a ``writer`` (serve, load) also claims an embedded store's
    directory, so that two processes never keep diverging copies of it in memory, and
    only a writer rebuilds shopper histories."""
    try:
        store = open_store(url, histories=writer)
        if writer and isinstance(store, EmbeddedStore):
            store.claim()
    except (StoreURLError, StoreBusy) as e:
        raise SystemExit(f"endcap: {e}") from None
    return store


@contextlib.asynccontextmanager
async def _opened(url: str, *, writer: bool = False) -> AsyncIterator[Store]:
    """:func:`_open` for the length of a command, closed after it."""
    store = _open(url, writer=writer)
    try:
        yield store
    finally:
        await store.close()


async def _retrain_forever(store: Store, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        for t in await store.list_tenants():
            try:
                await train_tenant(store, t.id)
            except Exception:
                log.exception("training tenant %s failed; serving the previous model", t.id)


async def _serve_with(store: Store, settings: ServeSettings, retrain: bool) -> None:
    app = create_app(settings, store)
    trainer = None
    if retrain and settings.train_interval_seconds > 0:
        trainer = asyncio.create_task(
            _retrain_forever(store, settings.train_interval_seconds))

    async def preload() -> None:
        # Load every tenant's model before the GC freeze and the first request, so
        # neither pays for it.
        for t in await store.list_tenants():
            await app.state.endcap.models.ensure(t.id)

    try:
        await serve(app, settings, before=preload)
    finally:
        if trainer is not None:
            trainer.cancel()
        await store.close()


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings({"host": args.host, "port": args.port,
                              "store_url": args.store_url,
                              "train_interval_seconds": args.train_interval_seconds})
    setup_logging(settings.log_level)

    async def main() -> None:
        await _serve_with(_open(settings.store_url, writer=True), settings,
                          retrain=args.embedded)

    with contextlib.suppress(KeyboardInterrupt):
        run(main)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    path = Path(args.data_dir).expanduser() if args.data_dir else demo.default_dir()
    settings = load_settings({"host": args.host, "port": args.port,
                              "store_url": f"file://{path.resolve()}",
                              "train_interval_seconds": None if "ENDCAP_TRAIN_INTERVAL_SECONDS"
                              in os.environ else demo.RETRAIN_SECONDS})
    setup_logging(settings.log_level)
    if args.reset:
        demo.reset(path)

    async def main() -> None:
        store = _open(settings.store_url, writer=True)
        creds = await demo.ensure_tenant(store, path)
        if await store.count_items(demo.TENANT) == 0:
            from endcap.sampledata.online_retail import load_online_retail

            print("Loading the UCI Online Retail sample shop (first run only)...", flush=True)
            shop = load_online_retail(progress=True)
            await demo.load_shop(store, demo.TENANT, shop)
        if await store.current_model(demo.TENANT) is None:
            print("Training...", flush=True)
            start = time.perf_counter()
            await train_tenant(store, demo.TENANT)
            print(f"Trained in {time.perf_counter() - start:.1f} s", flush=True)
        user, item = await demo.showcase(store, demo.TENANT)
        url = f"http://{settings.host}:{settings.port}"
        print(demo.banner(url, creds, user, item), flush=True)
        await _serve_with(store, settings, retrain=True)

    with contextlib.suppress(KeyboardInterrupt):
        run(main)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    setup_logging()

    async def main() -> int:
        async with _opened(args.store_url) as store:
            tenants = [args.tenant] if args.tenant else [t.id for t in await
                                                        store.list_tenants()]
            for t in tenants:
                model = await train_tenant(store, t)
                print(f"{t}: published model {model.version} "
                      f"({len(model.item_ids)} items)")
            return 0

    return run(main)


def cmd_tenants(args: argparse.Namespace) -> int:
    from endcap.tenants.service import create_tenant

    async def main() -> int:
        async with _opened(args.store_url) as store:
            if args.tenants_command == "create":
                try:
                    new = await create_tenant(store, args.tenant_id, args.name)
                except ValueError as e:
                    print(f"endcap: {e}", file=sys.stderr)
                    return 2
                print(f"tenant:        {new.tenant.id}\npublic key:    {new.public_key}\n"
                      f"secret token:  {new.secret_token}\n(the keys are shown only once)")
            else:
                for t in await store.list_tenants():
                    print(f"{t.id}\t{t.name}")
            return 0

    return run(main)


def cmd_models(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with _opened(args.store_url) as store:
            versions = await store.model_versions(args.tenant)
            current = await store.current_model(args.tenant)
            if args.models_command == "list":
                for v in versions:
                    print(f"{'*' if v == current else ' '} {v}")
                return 0
            target = args.version
            if target is None:
                before = versions[: versions.index(current)] if current in versions else []
                if not before:
                    print(f"endcap: tenant {args.tenant!r} has no version before "
                          f"{current!r}", file=sys.stderr)
                    return 2
                target = before[-1]
            if not await store.set_current_model(args.tenant, target):
                print(f"endcap: tenant {args.tenant!r} has no model version {target!r} "
                      "('endcap models list' shows them)", file=sys.stderr)
                return 2
            print(f"{args.tenant}: now serving {target} (was {current})")
            return 0

    return run(main)


def cmd_generate(args: argparse.Namespace) -> int:
    from endcap.sampledata.shop import write_shop
    from endcap.sampledata.synthetic import generate_shop

    start = time.perf_counter()
    shop = generate_shop(args.items, args.shoppers, args.events, seed=args.seed,
                         start=args.start.timestamp(), days=args.days)
    items_path, events_path = write_shop(shop, Path(args.out))
    print(f"{len(shop.items)} items -> {items_path}\n{len(shop.events)} events -> "
          f"{events_path}\n({time.perf_counter() - start:.1f} s)")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from endcap.sampledata.shop import read_shop

    try:
        shop = read_shop(Path(args.dir))
    except FileNotFoundError as e:
        print(f"endcap: {e.filename} not found: 'endcap load' reads the items.ndjson and "
              "events.ndjson that 'endcap generate' writes", file=sys.stderr)
        return 2
    except msgspec.ValidationError as e:
        print(f"endcap: {args.dir}: {e}", file=sys.stderr)
        return 2

    async def main() -> int:
        async with _opened(args.store_url, writer=True) as store:
            if await store.get_tenant(args.tenant) is None:
                print(f"endcap: no tenant {args.tenant!r}: create it with "
                      "'endcap tenants create'", file=sys.stderr)
                return 2
            n = await demo.load_shop(store, args.tenant, shop)
            print(f"{len(shop.items)} items and {n} new events loaded into {args.tenant}")
            return 0

    return run(main)


def cmd_stream(args: argparse.Namespace) -> int:
    from endcap.store.redis import RedisStore
    from endcap.stream.worker import StreamOptions, default_consumer, serve_stream

    setup_logging()
    options = StreamOptions(
        consumer=args.consumer or default_consumer(), batch=args.batch,
        block_ms=args.block_ms, claim_idle=max(0.1, args.claim_idle),
        archive_batch=args.archive_batch, archive_interval=max(0.0, args.archive_interval),
        # Test hook (the kill -9 test): wait between applying a batch and its XACK.
        ack_delay=float(os.environ.get("ENDCAP_TEST_STREAM_ACK_DELAY", "0")))

    async def main() -> int:
        async with _opened(args.store_url) as store:
            if not isinstance(store, RedisStore):
                print("endcap: 'endcap stream' consumes the Redis back-end's event streams; "
                      "the embedded store applies each event when 'endcap serve' accepts "
                      "it, so there is nothing to run", file=sys.stderr)
                return 2
            await serve_stream(store, options, metrics_host=args.metrics_host,
                               metrics_port=args.metrics_port)
            return 0

    return run(main)
