"""The sub-commands. Each builds its settings and store, then runs one role."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from endcap.api.app import create_app, start_draining
from endcap.cli import demo
from endcap.cli.runtime import run, serve, setup_logging
from endcap.obs.tracing import start_tracing
from endcap.obs.train import push_train_metrics
from endcap.semantic.job import embed_catalog
from endcap.semantic.provider import EmbeddingProvider, SemanticUnavailable
from endcap.semantic.providers import make_provider
from endcap.settings import ServeSettings, load_settings
from endcap.store.embedded import EmbeddedStore, StoreBusy
from endcap.store.protocol import Store
from endcap.store.url import StoreURLError, open_store
from endcap.train.gate import GateReport, GateSettings
from endcap.train.job import STAGES, TrainResult, model_history, train_tenant

if TYPE_CHECKING:
    from endcap.grpc.server import GrpcServer

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


async def _retrain_forever(store: Store, every: float,
                           embedder: Callable[[], EmbeddingProvider | None]) -> None:
    while True:
        await asyncio.sleep(every)
        for t in await store.list_tenants():
            try:
                await train_tenant(store, t.id, embedder=embedder())
            except Exception:
                log.exception("training tenant %s failed; serving the previous model", t.id)


async def _serve_with(store: Store, settings: ServeSettings, retrain: bool,
                      embedder: EmbeddingProvider | None = None) -> None:
    tracing = start_tracing(settings)
    app = create_app(settings, store, embedder=embedder, tracing=tracing)
    trainer = None
    if retrain and settings.train_interval_seconds > 0:
        trainer = asyncio.create_task(
            _retrain_forever(store, settings.train_interval_seconds,
                             app.state.endcap.semantic.provider_or_none))
    grpc_server: GrpcServer | None = None

    async def preload() -> None:
        # Load every tenant's model before the GC freeze and the first request, so
        # neither pays for it.
        semantic = app.state.endcap.semantic
        warm = False
        for t in await store.list_tenants():
            await app.state.endcap.models.ensure(t.id)
            # Only tenants that have embeddings: the others are looked up (and then
            # polled) on their first request that can use them.
            if await store.current_model(t.id, kind="embeddings") is not None:
                warm |= await semantic.embeddings.ensure(t.id) is not None
        if warm:  # load the language model now rather than on the first query
            await semantic.warm_up()
        if settings.grpc_port:
            from endcap.grpc.server import start_grpc  # grpcio loads only when asked for

            nonlocal grpc_server
            grpc_server = await start_grpc(app.state.endcap, settings)

    try:
        await serve(app, settings, before=preload, on_drain=lambda: start_draining(app))
    finally:
        if grpc_server is not None:
            await grpc_server.stop(settings.shutdown_timeout_seconds)
        if trainer is not None:
            trainer.cancel()
        await store.close()
        if tracing is not None:
            tracing.shutdown()


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings({"host": args.host, "port": args.port,
                              "grpc_port": args.grpc_port, "store_url": args.store_url,
                              "train_interval_seconds": args.train_interval_seconds})
    setup_logging(settings.log_level, settings.log_format)

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
    setup_logging(settings.log_level, None if "ENDCAP_LOG_FORMAT" in os.environ else "text")
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
        embedder = _embedder(quiet=False)
        if embedder is not None and await store.current_model(
                demo.TENANT, kind="embeddings") is None:
            print("Embedding the catalog with the local language model...", flush=True)
            report = await embed_catalog(store, demo.TENANT, embedder, progress=True)
            print(report.line(), flush=True)
        if await store.current_model(demo.TENANT) is None:
            print("Training...", flush=True)
            start = time.perf_counter()
            await train_tenant(store, demo.TENANT, embedder=embedder)
            print(f"Trained in {time.perf_counter() - start:.1f} s", flush=True)
        user, item = await demo.showcase(store, demo.TENANT)
        url = f"http://{settings.host}:{settings.port}"
        print(demo.banner(url, creds, user, item), flush=True)
        await _serve_with(store, settings, retrain=True, embedder=embedder)

    with contextlib.suppress(KeyboardInterrupt):
        run(main)
    return 0


class _StageBar:
    """``endcap train``'s progress display: one line on stderr per tenant with its stage
    and the latest tuning trial (tqdm; drawn only when ``enabled``)."""

    def __init__(self, tenant: str, enabled: bool) -> None:
        self.tenant = tenant
        self.bar = tqdm(total=len(STAGES), desc=tenant, file=sys.stderr,
                        disable=not enabled, mininterval=0.5,
                        bar_format="{desc} [{n}/{total} stages, {elapsed}]{postfix}")

    def stage(self, name: str) -> None:
        self.bar.n = STAGES.index(name)
        self.bar.set_postfix_str("", refresh=False)
        self.bar.set_description_str(f"{self.tenant}: {name}")

    def note(self, line: str) -> None:
        self.bar.set_postfix_str(line)

    def close(self) -> None:
        self.bar.n = len(STAGES)
        self.bar.set_description_str(f"{self.tenant}: done", refresh=False)
        self.bar.set_postfix_str("")
        self.bar.close()


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t))


def _gate_lines(tenant: str, report: GateReport) -> list[str]:
    """The comparison a gated run made, as a small table (nothing when there was none)."""
    w = report.window
    if w is None or report.decision == "first model":
        return []
    lines = [f"{tenant}: window {_utc(w.start)} to {_utc(w.end)} UTC ({w.rule}): "
             f"{report.events_before:,} events before, {report.events_in_window:,} in it, "
             f"{report.shoppers:,} test shoppers"]
    new, old = report.candidate, report.current
    if new is None or old is None:
        return lines
    lines.append(f"  {'':22}{'candidate':>10}  current {report.current_version}")
    k, rk = new.for_you.k, new.for_you.recall_k
    for strategy, metric, label in (("for_you", "ndcg", f"NDCG@{k}"),
                                    ("for_you", "hit_rate", f"HR@{k}"),
                                    ("for_you", "recall", f"Recall@{rk}"),
                                    ("for_you", "coverage", f"coverage@{k}"),
                                    ("bestsellers", "ndcg", f"NDCG@{k}")):
        a, b = (getattr(getattr(r, strategy), metric) for r in (new, old))
        lines.append(f"  {strategy + ' ' + label:22}{a:>10.4f}  {b:>10.4f}")
    if report.bias:
        lines.append(f"  note: {report.bias}")
    return lines


def _outcome(result: TrainResult) -> str:
    r, m = result.report, result.model
    if m is None:
        return (f"{result.tenant}: rejected ({r.reason}): kept version {result.previous}; "
                "--force publishes anyway")
    how = (f"forced past the gate, which would have {r.decision}ed: {r.reason}" if r.forced
           and r.decision == "reject" else f"gate: {r.decision}, {r.reason}")
    return f"{result.tenant}: published model {m.version} ({len(m.item_ids)} items; {how})"


def cmd_train(args: argparse.Namespace) -> int:
    setup_logging()
    gate = GateSettings(window_days=args.window_days, tolerance=args.tolerance,
                        window=args.window)
    show = args.progress or sys.stderr.isatty()
    embedder = None if args.no_embed else _embedder(quiet=False)
    gateway = os.environ.get("ENDCAP_PUSHGATEWAY_URL", "")

    async def main() -> int:
        rejected = 0
        async with _opened(args.store_url) as store:
            tenants = [args.tenant] if args.tenant else [t.id for t in await
                                                        store.list_tenants()]
            for t in tenants:
                bar = _StageBar(t, show)
                started = time.monotonic()
                try:
                    with logging_redirect_tqdm():
                        result = await train_tenant(store, t, gate=gate, force=args.force,
                                                    progress=bar, embedder=embedder)
                finally:
                    bar.close()
                print("\n".join([*_gate_lines(t, result.report), _outcome(result)]),
                      flush=True)
                rejected += result.model is None
                if gateway:
                    push_train_metrics(gateway, t, seconds=time.monotonic() - started,
                                       published=result.model is not None,
                                       model_trained_at=None if result.model is None
                                       else result.model.trained_at)
        return 3 if rejected and args.fail_on_reject else 0

    return run(main)


def _embedder(*, quiet: bool) -> EmbeddingProvider | None:
    """The embedding provider the settings name, or None (saying why unless ``quiet``)."""
    try:
        return make_provider(load_settings({}))
    except SemanticUnavailable as e:
        if not quiet:
            print(f"endcap: not embedding the catalog: {e}", file=sys.stderr)
        return None


def cmd_embed(args: argparse.Namespace) -> int:
    setup_logging()
    try:
        provider = make_provider(load_settings({}))
    except SemanticUnavailable as e:
        raise SystemExit(f"endcap: {e}") from None
    show = args.progress or sys.stderr.isatty()

    async def main() -> int:
        async with _opened(args.store_url) as store:
            while True:
                tenants = [args.tenant] if args.tenant else [
                    t.id for t in await store.list_tenants()]
                for t in tenants:
                    report = await embed_catalog(store, t, provider, progress=show)
                    print(f"{t}: {report.line()}", flush=True)
                if not args.watch:
                    return 0
                await asyncio.sleep(args.watch)

    with contextlib.suppress(KeyboardInterrupt):
        return run(main)
    return 0


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


def _version_line(v: dict[str, Any]) -> str:
    """One published version for ``endcap models list``."""
    stats = v.get("stats", {})
    gate = stats.get("gate") or {}
    decision = gate.get("decision", "-")
    if gate.get("forced") and decision == "reject":
        decision = "forced"
    cand, cur = gate.get("candidate"), gate.get("current")
    ndcg = ""
    if cand and cur:
        ndcg = (f"{cand['for_you']['ndcg']:.4f} / {cur['for_you']['ndcg']:.4f} "
                f"({gate.get('current_version')})")
    trained = _utc(v["trained_at"]) if "trained_at" in v else "?"
    return (f"{'*' if v['current'] else ' '} {v['version']:21} {trained:16}  "
            f"{stats.get('items', 0):>9,} {stats.get('events', 0):>11,}  {decision:12} "
            f"{ndcg}").rstrip()


def cmd_models(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with _opened(args.store_url) as store:
            if args.models_command == "list":
                history = await model_history(store, args.tenant)
                if args.json:
                    print(json.dumps(history, indent=2))
                    return 0
                if history:
                    print(f"  {'VERSION':21} {'TRAINED (UTC)':16}  {'ITEMS':>9} "
                          f"{'EVENTS':>11}  {'GATE':12} NDCG@10 NEW / PREVIOUS")
                for v in history:
                    print(_version_line(v))
                return 0
            versions = await store.model_versions(args.tenant)
            current = await store.current_model(args.tenant)
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

    setup_logging(service=True)
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
