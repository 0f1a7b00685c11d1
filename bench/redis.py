"""The Redis back-end measured: speed against the embedded store, memory, event-to-effect.

    .venv/bin/python bench/redis.py [--quick] [--part speed|memory|latency|all]
    .venv/bin/python bench/redis.py --cluster --part speed|latency

Every part starts its own ``redis-server`` on a free loopback port (never the one on
6379), uses the key prefix ``bench``, and stops it afterwards. Each prints a Markdown table.
With ``--cluster`` the speed and latency parts run on a fresh 3-master Redis Cluster
instead (``tests/redis_servers.py``'s ``RedisClusterServers``: free loopback ports,
``redis-cli --cluster create``; store URL ``redis+cluster://...?prefix=bench``); in the
speed part every node is pinned to CPU 1, where the standalone redis-server runs. The
memory part refuses ``--cluster`` (it counts keys and reads memory on one server). Both
parts also report the error replies Redis sent (``INFO errorstats``, summed over nodes:
MOVED and ASK would show there) and error-looking lines in the serve and stream logs.

* ``speed``: the demo shop (UCI Online Retail, trained; the store bench/load.py builds
  and caches) served by ``endcap serve`` on its embedded ``file://`` store and on Redis,
  with the same items, events, pods and model artifact. Before the Redis server starts,
  the shop's events are appended to the Redis streams and applied to shopper histories
  (by ``endcap stream`` workers when that command exists, else by
  ``RedisStore.apply`` in this process). Each server is one worker pinned to CPU 0;
  wrk (``-t1 -c32``, 2 s warm-up, then ``--duration`` s) is pinned to CPU 1 and so is
  redis-server. Rows: ``/healthz``, ``for-you`` over 1,000 random customers,
  ``product-similar`` over 1,000 random items (the samples bench/load.py draws), and
  ingestion (500 new ``view`` events a request, c=8, counted by the server). The two
  back-ends alternate row by row, so drift hits both.
* ``memory``: Redis memory by kind of key on the demo shop (``MEMORY USAGE`` over a
  sample of each kind, scaled by the count of keys, and ``INFO memory`` deltas by load
  phase); then growth with the number of shoppers, replaying a synthetic shop's events
  (``generate_shop``) for the first 10k, 30k and 100k distinct shoppers (history keys);
  then the caps: one shopper sent 1,000 views and 1,500 purchased items.
* ``latency``: 2 ``serve`` replicas and 2 ``endcap stream`` workers on one Redis (no
  CPU pinning: 2 cores hold them all). A loader process sends ``view`` events at a fixed
  rate (5,000 events/s, 50 a request, alternating replicas, open loop) for ``--seconds``;
  meanwhile probes, 20 a second, each post one view for a fresh session to one replica
  and poll ``recently-viewed`` on the other every 5 ms until the item shows. Also scraped:
  the workers' ``endcap_stream_event_to_effect_seconds`` histogram. Skipped, with a note,
  while ``endcap stream`` does not exist.

``--quick`` shortens every part (5 s wrk runs; growth to 30k shoppers; 10 s of latency
load). Loopback only; every loop is bounded in count and time; every child process and
the work directory are removed on exit, also on errors and SIGTERM.
Needs redis-server, wrk and taskset (and redis-cli for ``--cluster``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# This file is bench/redis.py, which Python puts first on sys.path: drop that entry, so
# that "import redis" (here and in endcap) is redis-py, then put bench/ back at the end.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
import redis  # noqa: E402

sys.path += [str(HERE), str(ROOT)]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
from tests.redis_servers import RedisClusterServers, RedisServer  # noqa: E402

from load import CACHE, lua_events, lua_paths, pin, start_demo  # noqa: E402
from scale import (  # noqa: E402
    endcap,
    free_port,
    memory_mb,
    server_accepted,
    share,
    spawn,
    stop,
    stop_all,
    strategy_mix,
)
from scale import wrk as run_wrk  # noqa: E402

HOST = "127.0.0.1"
PREFIX = "bench"
TENANT = "demo"
#: every redis-server started (cluster nodes too), stopped on exit
SERVERS: list[RedisServer] = []
#: for the bench's own clients: RESP2 and no driver info, so that connecting sends neither
#: CLIENT MAINT_NOTIFICATIONS nor CLIENT SETINFO, which Redis 7.0 answers with errors
#: (counted in INFO errorstats, which the parts report)
QUIET: dict[str, Any] = {"protocol": 2, "driver_info": None}


# -- processes -------------------------------------------------------------------------------


#: how deep in :func:`signals_held` we are, and a SIGTERM or SIGINT held meanwhile (0: none)
_HOLD: dict[str, int] = {"depth": 0, "pending": 0}


def on_signal(signum: int, _frame: Any) -> None:
    """SIGTERM or SIGINT: exit (running every ``finally``), or later when held."""
    if _HOLD["depth"]:
        _HOLD["pending"] = signum
        return
    sys.exit(128 + signum)


@contextmanager
def signals_held() -> Iterator[None]:
    """SIGTERM and SIGINT take effect at the end of the block, so that a redis-server is
    never started without being recorded in SERVERS (the waits inside are bounded:
    RedisServer and RedisClusterServers time out). Deferred in the handler, not by
    blocking the signals: a blocked mask would be inherited by the redis-servers, which
    would then ignore SIGTERM."""
    _HOLD["depth"] += 1
    try:
        yield
    finally:
        _HOLD["depth"] -= 1
        if not _HOLD["depth"] and (signum := _HOLD["pending"]):
            _HOLD["pending"] = 0
            sys.exit(128 + signum)


def pin_pids(pids: list[int], cpu: int) -> None:
    """Every thread of each running process onto ``cpu`` (taskset -a)."""
    if not pin(cpu):
        return
    for pid in pids:
        done = subprocess.run(["taskset", "-apc", str(cpu), str(pid)], capture_output=True,
                              text=True, check=False, timeout=10)
        if done.returncode != 0:
            print(f"could not pin pid {pid} to CPU {cpu}: {done.stderr.strip()}",
                  file=sys.stderr)


def start_redis(work: Path, cpu: int | None = None) -> RedisServer:
    """A fresh redis-server on a free loopback port (no persistence), optionally pinned."""
    with signals_held():
        srv = RedisServer(work)
        SERVERS.append(srv)
    if cpu is not None and srv.proc is not None:
        pin_pids([srv.proc.pid], cpu)
    return srv


def store_url(srv: RedisServer) -> str:
    return f"{srv.url}?prefix={PREFIX}"


@dataclass
class Target:
    """The Redis a part measures: one standalone redis-server, or the 3 masters of a Redis
    Cluster (``tests/redis_servers.py``'s ``RedisClusterServers``)."""

    servers: list[RedisServer]
    url: str  # the store URL, key prefix included
    cluster: bool

    @property
    def label(self) -> str:
        return "Redis Cluster" if self.cluster else "Redis"

    @property
    def what(self) -> str:
        return f"a {len(self.servers)}-master Redis Cluster" if self.cluster else "one Redis"

    def client(self) -> Any:
        """For keyed commands; on a cluster redis-py routes each to its slot's node."""
        port = self.servers[0].port
        if self.cluster:
            return redis.RedisCluster(host=HOST, port=port, **QUIET)
        return redis.Redis(host=HOST, port=port, **QUIET)

    def pids(self) -> list[int]:
        return [s.proc.pid for s in self.servers if s.proc is not None]

    def node_clients(self) -> list[redis.Redis]:
        """One plain client per node, for INFO and the like."""
        return [redis.Redis(host=HOST, port=s.port, **QUIET) for s in self.servers]

    def info(self, section: str) -> list[dict[str, Any]]:
        """``INFO section`` of every node."""
        out = []
        for c in self.node_clients():
            with c:
                out.append(c.info(section))
        return out

    def used_memory(self) -> int:
        """``used_memory``, summed over the nodes."""
        return sum(int(i["used_memory"]) for i in self.info("memory"))

    def counters(self) -> Counter[str]:
        """Summed over the nodes, since they started: error replies by prefix (``INFO
        errorstats``: MOVED and ASK show up there although redis-py follows them
        silently), failed or rejected calls by command (``INFO commandstats``), and
        connections received."""
        out: Counter[str] = Counter()
        for c in self.node_clients():
            with c:
                for k, v in c.info("errorstats").items():
                    if k.startswith("errorstat_") and isinstance(v, dict):
                        out[k.removeprefix("errorstat_")] += int(v.get("count", 0))
                for k, v in c.info("commandstats").items():
                    if isinstance(v, dict):
                        bad = int(v.get("failed_calls", 0)) + int(v.get("rejected_calls", 0))
                        if bad:
                            out["cmd " + k.removeprefix("cmdstat_")] += bad
                out["connections"] += int(c.info("stats")["total_connections_received"])
        return out

    def cluster_states(self) -> list[str]:
        """``cluster_state`` of every node, from CLUSTER INFO."""
        out = []
        for c in self.node_clients():
            with c:
                text = c.execute_command("CLUSTER", "INFO")
            text = text.decode() if isinstance(text, bytes) else str(text)
            m = re.search(r"cluster_state:(\w+)", text)
            out.append(m.group(1) if m else "?")
        return out

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every node (not only the first) says cluster_state:ok."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(st == "ok" for st in self.cluster_states()):
                return
            time.sleep(0.1)
        raise SystemExit(f"the Redis Cluster did not reach cluster_state:ok on every node "
                         f"within {timeout:.0f} s: {self.cluster_states()}")

    def stop(self) -> None:
        for s in self.servers:
            s.stop()


def start_target(work: Path, cluster: bool, cpu: int | None = None) -> Target:
    """A standalone redis-server, or a fresh 3-master cluster; every node pinned to ``cpu``
    (None: not pinned)."""
    if not cluster:
        srv = start_redis(work, cpu)
        return Target([srv], store_url(srv), False)
    t0 = time.perf_counter()
    with signals_held():
        nodes = RedisClusterServers(work)  # stops its nodes itself if creating fails
        SERVERS.extend(nodes.nodes)
    target = Target(nodes.nodes, f"{nodes.url}?prefix={PREFIX}", True)
    target.wait_ok()
    if cpu is not None:
        pin_pids(target.pids(), cpu)
    print(f"Redis Cluster up in {time.perf_counter() - t0:.1f} s: ports "
          f"{', '.join(str(s.port) for s in nodes.nodes)}", file=sys.stderr)
    return target


def replies_note(target: Target, before: Counter[str]) -> list[str]:
    """Lines: what went wrong on the Redis side while measuring (counters since
    ``before``) and while setting up (before that)."""
    now = target.counters()

    def fmt(c: Counter[str]) -> str:
        errs = [f"{k} {v:,}" for k, v in c.most_common()
                if k != "connections" and not k.startswith("cmd ")]
        cmds = [f"{k[4:]} {v:,}" for k, v in c.most_common() if k.startswith("cmd ")]
        return (f"error replies {', '.join(errs) or 'none'}; failed calls by command "
                f"{', '.join(cmds) or 'none'}; {c['connections']:,} connections received")

    nodes = ", summed over the nodes" if target.cluster else ""
    out = [f"- {target.label} while measured (`INFO errorstats`, `commandstats` and `stats`"
           f"{nodes}; MOVED/ASK would show as error replies): {fmt(now - before)}",
           f"- {target.label} while setting up (loading, starting processes): {fmt(before)}"]
    if target.cluster:
        out.append("- cluster_state at the end: " + ", ".join(target.cluster_states()))
    if now["ERR"]:
        out.append("- `ERR` without a failed command is an unknown command or subcommand: "
                   "redis-py (8.x) opens every connection with CLIENT MAINT_NOTIFICATIONS ON "
                   "and two CLIENT SETINFO, which this Redis may not know (7.0 knows none of "
                   "them); redis-py ignores the errors: up to 3 a connection")
    return out


def log_trouble(logs: Path) -> str:
    """Lines in the serve and stream logs that look like trouble, by file, with the
    exception seen most often."""
    pat = re.compile(r"Traceback|ERROR|Error|MOVED|ASK |CROSSSLOT|TRYAGAIN|CLUSTERDOWN")
    exc = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception)\b.*")
    found = []
    for log in sorted(logs.glob("*.log")):
        if not log.name.startswith(("serve", "stream")):
            continue
        lines = log.read_text(errors="replace").splitlines()
        n = sum(1 for ln in lines if pat.search(ln))
        if n:
            kinds = Counter(m.group(0)[:160] for ln in lines if (m := exc.match(ln)))
            top = (f" (most often: `{kinds.most_common(1)[0][0]}` x{kinds.most_common(1)[0][1]:,})"
                   if kinds else "")
            found.append(f"{log.name}: {n:,} lines{top}")
    return ("- lines in the serve and stream logs that look like errors: "
            + ("; ".join(found) if found else "none"))


def first_failure(url: str, key: str, paths: list[str]) -> str:
    """Status and start of the body of the first non-200 among ``paths`` ("" if none)."""
    with httpx.Client(base_url=url, timeout=10,
                      headers={"Authorization": f"Bearer {key}"}) as client:
        for p in paths:
            r = client.get(p)
            if r.status_code != 200:
                return f" (e.g. HTTP {r.status_code}: {r.text[:120]!r})"
    return ""


def stream_cli() -> bool:
    """Whether this endcap has the ``stream`` command (the Redis stream workers)."""
    done = subprocess.run([*endcap(), "stream", "--help"], capture_output=True, timeout=60,
                          check=False)
    return done.returncode == 0


def start_serve(url: str, port: int, log: Path, cpu: int | None,
                timeout: float = 120) -> subprocess.Popen[bytes]:
    """``endcap serve`` on ``url``, pinned to ``cpu`` (None: not pinned), up on /healthz."""
    health = f"http://{HOST}:{port}/healthz"
    proc = spawn([*(pin(cpu) if cpu is not None else []), *endcap(), "serve", "--store", url,
                  "--host", HOST, "--port", str(port)], log)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"endcap serve exited with {proc.returncode}; see "
                                 f"{log}:\n{log.read_text(errors='replace')[-2000:]}")
            try:
                if client.get(health).status_code == 200:
                    return proc
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise SystemExit(f"endcap serve did not answer {health} within {timeout:.0f} s; see {log}")


def start_workers(url: str, n: int, logs: Path) -> list[tuple[subprocess.Popen[bytes], int]]:
    """``n`` ``endcap stream`` workers, each with its own consumer name and metrics port."""
    out = []
    for i in range(n):
        mport = free_port()
        proc = spawn([*endcap(), "stream", "--store", url, "--consumer", f"bench-{i}",
                      "--metrics-port", str(mport)], logs / f"stream-{i}.log")
        out.append((proc, mport))
    return out


def cpu_times() -> dict[str, tuple[int, int]]:
    """Per CPU: (busy, total) clock ticks since boot, from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *vals = line.split()
        if re.fullmatch(r"cpu\d+", name):
            ticks = [int(v) for v in vals[:8]]
            out[name] = (sum(ticks) - ticks[3] - ticks[4], sum(ticks))
    return out


def busy(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> str:
    """How busy each CPU was between two :func:`cpu_times` readings, in %."""
    out = []
    for c in sorted(after, key=lambda c: int(c[3:])):
        ticks = max(1, after[c][1] - before[c][1])
        out.append(f"{100 * (after[c][0] - before[c][0]) / ticks:.0f}")
    return "/".join(out)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- Redis state -------------------------------------------------------------------------------


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def backlog(client: redis.Redis, shards: int = 8) -> int:
    """Stream entries not yet acknowledged by every consumer group (all of a shard's
    entries while it has no group)."""
    total = 0
    for s in range(shards):
        key = f"{{{PREFIX}:{TENANT}:{s}}}:events"
        if not client.exists(key):
            continue
        groups = client.xinfo_groups(key)
        if not groups:
            total += int(client.xlen(key))
            continue
        info = client.xinfo_stream(key)
        for g in groups:
            lag = g.get("lag")
            if lag is None:  # Redis cannot tell (entries deleted): compare ids instead
                lag = 0 if g["last-delivered-id"] == info["last-generated-id"] else 1
            total += int(lag) + int(g["pending"])
    return total


#: (kind, key pattern, what it holds, the unit it scales with)
KINDS: list[tuple[str, str, str, str]] = [
    ("items", r"^\{P:T\}:items$", "item records (one hash)", "items"),
    ("h", r"^\{P:T:\d+\}:h:", "shopper histories (msgpack entries, capped)", "shoppers"),
    ("b", r"^\{P:T:\d+\}:b:", "purchased items per shopper (zset, capped)", "shoppers"),
    ("r", r"^\{P:T:\d+\}:r:", "last 5 views per shopper (list)", "shoppers"),
    ("seen", r"^\{P:T:\d+\}:seen:", "idempotency marks, one per event (TTL)", "events"),
    ("events", r"^\{P:T:\d+\}:events$", "event streams, one per shard", "events"),
    ("n", r"^\{P:T:\d+\}:n:", "hourly counters per shard, type and hour (zset)", "items"),
    ("cv", r"^\{P:T:\d+\}:cv:", "co-view pairs per shard and item (zset)", "items"),
    ("cb", r"^\{P:T:\d+\}:cb:", "co-buy pairs per shard and item (zset)", "items"),
    ("model", r"^\{P:T\}:model", "model artifacts and pointers", "-"),
    ("other", r"", "tenants, keys, pods, changes, event counters", "-"),
]


@dataclass
class KindStats:
    keys: int = 0
    sample: list[bytes] = field(default_factory=list)
    bytes_per_key: float = 0.0

    @property
    def total(self) -> float:
        return self.keys * self.bytes_per_key


def breakdown(client: redis.Redis, sample: int = 2_000, seed: int = 1
              ) -> dict[str, KindStats]:
    """Every key of the tenant, by kind: the count (SCAN) and the mean ``MEMORY USAGE``
    (SAMPLES 0: exact) over a random sample of up to ``sample`` keys of each kind."""
    pats = [(k, re.compile(p.replace("P", PREFIX).replace("T", TENANT).encode()))
            for k, p, _, _ in KINDS if p]
    stats = {k: KindStats() for k, *_ in KINDS}
    rng = random.Random(seed)
    for key in client.scan_iter(count=10_000):
        kind = next((k for k, p in pats if p.search(key)), "other")
        s = stats[kind]
        s.keys += 1
        if len(s.sample) < sample:
            s.sample.append(key)
        elif (j := rng.randrange(s.keys)) < sample:  # reservoir sampling
            s.sample[j] = key
    for s in stats.values():
        if not s.sample:
            continue
        pipe = client.pipeline(transaction=False)
        for key in s.sample:
            pipe.memory_usage(key, samples=0)
        sizes = [v or 0 for v in pipe.execute()]
        s.bytes_per_key = sum(sizes) / len(sizes)
    return stats


def history_lengths(client: redis.Redis, stats: KindStats) -> tuple[float, int]:
    """Mean and largest history length over the sampled history keys."""
    if not stats.sample:
        return 0.0, 0
    pipe = client.pipeline(transaction=False)
    for key in stats.sample:
        pipe.llen(key)
    lens = pipe.execute()
    return statistics.fmean(lens), max(lens)


# -- loading the demo shop into Redis --------------------------------------------------------


def shop_data() -> Any:
    from endcap.sampledata.online_retail import load_online_retail

    return load_online_retail()


def demo_samples(shop: Any) -> tuple[list[str], list[str]]:
    """The 1,000 customers and 1,000 items bench/load.py samples (same seed, same order)."""
    rng = random.Random(7)
    users = sorted({e.user_id for e in shop.events if e.user_id})
    items = [it.id for it in shop.items]
    return rng.sample(users, 1000), rng.sample(items, 1000)


def ensure_demo_cache() -> Path:
    """The trained embedded demo store bench/load.py caches (built once, ~25 s)."""
    if not (CACHE / "demo-credentials.json").exists():
        t0 = time.perf_counter()
        builder = start_demo(free_port(), CACHE)
        builder.terminate()
        builder.wait(timeout=60)
        print(f"demo store built in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return CACHE


async def _model_of(path: Path) -> tuple[str, bytes]:
    from endcap.store.url import open_store

    store = open_store(f"file://{path}", histories=False)
    try:
        version = await store.current_model(TENANT)
        artifact = await store.load_model(TENANT, version) if version else None
    finally:
        await store.close()
    if version is None or artifact is None:
        raise SystemExit(f"the demo store at {path} has no model")
    return version, artifact


async def _apply_in_process(url: str, shards: int = 8, batch: int = 500) -> int:
    """What a stream worker does, from this process: every stream entry applied once."""
    from endcap.store.url import open_store

    store: Any = open_store(url)
    try:
        async def shard(s: int) -> int:
            done, todo = 0, []
            async for _, e in store.stream_entries(TENANT, s):
                todo.append(e)
                if len(todo) == batch:
                    done += await store.apply(TENANT, todo)
                    todo = []
            if todo:
                done += await store.apply(TENANT, todo)
            return done

        return sum(await asyncio.gather(*(shard(s) for s in range(shards))))
    finally:
        await store.close()


def apply_streams(url: str, client: redis.Redis, logs: Path, timeout: float
                  ) -> tuple[str, float]:
    """Fold the streamed events into shopper state: by 2 ``endcap stream`` workers when
    they exist (waiting for their backlog to reach 0), else in this process.
    (how, seconds)."""
    t0 = time.perf_counter()
    if stream_cli():
        workers = start_workers(url, 2, logs)
        try:
            deadline = time.monotonic() + timeout
            left = backlog(client)
            best, stalled = left, time.monotonic()
            while left and time.monotonic() < deadline:
                if all(p.poll() is not None for p, _ in workers):
                    break
                if time.monotonic() - stalled > 30:  # no progress for 30 s
                    break
                time.sleep(0.5)
                left = backlog(client)
                if left < best:
                    best, stalled = left, time.monotonic()
        finally:
            for p, _ in workers:
                stop(p)
        if left == 0:
            return "2 endcap stream workers", time.perf_counter() - t0
        print(f"stream workers left {left} entries; applying the rest in-process",
              file=sys.stderr)
    asyncio.run(_apply_in_process(url))
    return "RedisStore.apply in the bench process", time.perf_counter() - t0


@dataclass
class DemoRedis:
    public_key: str
    phases: list[tuple[str, int, float]]  # (phase, used_memory after, seconds)
    applied_by: str
    version: str
    stats: dict[str, KindStats]
    n_items: int
    n_events: int


def load_demo_redis(target: Target, shop: Any, model: tuple[str, bytes] | None,
                    logs: Path) -> DemoRedis:
    """The demo shop into a fresh Redis: tenant, items, pods and events (appended to the
    streams by the normal ingestion code), applied, the model published; memory by phase
    (summed over a cluster's nodes) and, standalone only, by kind of key."""
    from endcap.cli import demo
    from endcap.store.url import open_store
    from endcap.tenants.service import create_tenant

    url = target.url
    client = target.client()
    phases = [("empty server", target.used_memory(), 0.0)]

    async def load() -> tuple[str, int]:
        store: Any = open_store(url)
        try:
            new = await create_tenant(store, TENANT, "endcap demo shop (bench)")
            t0 = time.perf_counter()
            n = await demo.load_shop(store, TENANT, shop, progress=False)
            phases.append((f"items, pods and {n:,} events appended (streams, marks)",
                           target.used_memory(), time.perf_counter() - t0))
            return new.public_key, n
        finally:
            await store.close()

    key, n = asyncio.run(load())
    how, secs = apply_streams(url, client, logs, timeout=900)
    phases.append((f"events applied ({how})", target.used_memory(), secs))
    version = ""
    if model is not None:
        version, artifact = model

        async def publish() -> None:
            store: Any = open_store(url)
            try:
                await store.publish_model(TENANT, version, artifact)
            finally:
                await store.close()

        asyncio.run(publish())
        phases.append((f"model artifact published ({len(artifact) / 2**20:.1f} MB)",
                       target.used_memory(), 0.0))
    # by kind of key: SCAN and MEMORY USAGE on one server (the memory part, standalone only)
    stats = {k: KindStats() for k, *_ in KINDS} if target.cluster else breakdown(client)
    client.close()
    return DemoRedis(key, phases, how, version, stats, len(shop.items), n)


# -- part 1: speed ---------------------------------------------------------------------------


def part_speed(args: argparse.Namespace, work: Path, shop: Any) -> tuple[list[str], DemoRedis]:
    logs = work / "logs"
    cache = ensure_demo_cache()
    emb_dir = work / "embedded"
    shutil.copytree(cache, emb_dir)  # served copy: the events sent never reach the cache
    creds = json.loads((emb_dir / "demo-credentials.json").read_text())
    model = asyncio.run(_model_of(emb_dir))

    target = start_target(work, args.cluster, cpu=1)  # shares CPU 1 with wrk
    t0 = time.perf_counter()
    demo_redis = load_demo_redis(target, shop, model, logs)
    print(f"demo shop in {target.label} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    client = target.client()

    ports = {"embedded": free_port(), "redis": free_port()}
    procs = {
        "embedded": start_serve(f"file://{emb_dir}", ports["embedded"],
                                logs / "serve-embedded.log", cpu=0),
        "redis": start_serve(target.url, ports["redis"], logs / "serve-redis.log", cpu=0),
    }
    keys = {"embedded": creds["public_key"], "redis": demo_redis.public_key}
    urls = {b: f"http://{HOST}:{p}" for b, p in ports.items()}
    users, items = demo_samples(shop)
    redis_pids = target.pids()
    counted = target.counters()  # what follows is measured

    results: dict[tuple[str, str], dict[str, Any]] = {}
    mixes: dict[tuple[str, str], str] = {}
    rows = [("floor: GET /healthz", None, None, None)]
    rows += [(f"{pod} ({param})", pod, param, values)
             for pod, param, values in (("for-you", "user_id", users),
                                        ("product-similar", "item_id", items))]
    conns, dur = args.connections, args.duration

    def measured(backend: str, dest: str, script: Path | None, conn: int
                 ) -> dict[str, Any]:
        run_wrk(dest, script, conn, 2)  # warm-up
        pid = procs[backend].pid
        c0, t = cpu_seconds(pid), time.perf_counter()
        r0 = sum(cpu_seconds(p) for p in redis_pids)
        cpus = cpu_times()
        got, _ = run_wrk(dest, script, conn, dur)
        got["busy"] = busy(cpus, cpu_times())
        secs = time.perf_counter() - t
        got["cpu_serve"] = 100 * (cpu_seconds(pid) - c0) / secs
        got["cpu_redis"] = 100 * (sum(cpu_seconds(p) for p in redis_pids) - r0) / secs
        return got

    for name, pod, param, values in rows:
        for backend in ("embedded", "redis"):
            url, key = urls[backend], keys[backend]
            if pod is None:
                results[(name, backend)] = measured(backend, f"{url}/healthz", None, conns)
                continue
            paths = [f"/v1/pods/{pod}/recommendations?{param}={v}&num_results=10"
                     for v in values]
            mix, empty, errors = strategy_mix(url, key, paths[:200])
            seen = first_failure(url, key, paths[:200]) if errors else ""
            mixes[(name, backend)] = (f"{share(mix) or 'nothing'}; {empty} empty, {errors} "
                                      f"non-200{seen}")
            script = work / f"{backend}-{pod}.lua"
            script.write_text(lua_paths(paths, key))
            results[(name, backend)] = measured(backend, url, script, conns)
            print(f"{name} {backend}: {results[(name, backend)]['rps']:.0f} req/s",
                  file=sys.stderr)
    ev_name = "events: POST 500/batch (c=8)"
    events: dict[str, float] = {}
    for backend in ("embedded", "redis"):
        url, key = urls[backend], keys[backend]
        script = work / f"{backend}-events.lua"
        script.write_text(lua_events(users, items, key, 500))
        before = server_accepted(url)
        results[(ev_name, backend)] = measured(backend, url, script, 8)
        # the warm-up's events are counted too: divide by both runs' time
        events[backend] = (server_accepted(url) - before) / (dur + 2)
    rss = {b: memory_mb(p.pid)[0] for b, p in procs.items()}
    redis_mem = target.used_memory()
    stream_left = backlog(client)
    client.close()
    for p in procs.values():
        stop(p)

    lab = target.label
    short = "C" if target.cluster else "R"
    servers = ("the 3 cluster nodes (redis-server each)" if target.cluster
               else "redis-server")
    out = [f"endcap {lab} vs embedded: the demo shop ({demo_redis.n_items:,} items, "
           f"{demo_redis.n_events:,} events, model {demo_redis.version}); 1 serve worker on "
           f"CPU 0; wrk -t1 and {servers} on CPU 1; c={conns} (events c=8), 2 s warm-up "
           f"then {dur} s per run; nproc {os.cpu_count()}; "
           f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.", ""]
    out.append(f"| endpoint | embedded req/s | p50 ms | p99 ms | {lab} req/s | p50 ms | "
               f"p99 ms | {lab}/embedded | non-2xx (e/{short}) | serve CPU % (e/{short}) | "
               f"{'cluster nodes' if target.cluster else 'redis-server'} CPU % | "
               f"CPUs busy % (e; {short}) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in [r[0] for r in rows] + [ev_name]:
        e, r = results[(name, "embedded")], results[(name, "redis")]
        out.append(f"| {name} | {e['rps']:,.0f} | {e['p50']:.2f} | {e['p99']:.2f} | "
                   f"{r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                   f"{r['rps'] / e['rps']:.2f} | {e['non2xx']:.0f}/{r['non2xx']:.0f} | "
                   f"{e['cpu_serve']:.0f}/{r['cpu_serve']:.0f} | {r['cpu_redis']:.0f} | "
                   f"{e['busy']}; {r['busy']} |")
    out.append(f"| events accepted/s (server counter) | {events['embedded']:,.0f} | | | "
               f"{events['redis']:,.0f} | | | {events['redis'] / events['embedded']:.2f} "
               "| | | | |")
    out.append("")
    for (name, backend), mix in mixes.items():
        out.append(f"- {name}, {lab if backend == 'redis' else backend}: who filled 200 "
                   f"responses: {mix}")
    applied_s, appended_s = demo_redis.phases[2][2], demo_redis.phases[1][2]
    out.append(f"- histories in {lab}: applied by {demo_redis.applied_by} in "
               f"{applied_s:.1f} s ({demo_redis.n_events / applied_s:,.0f} events/s); the "
               f"shop's events appended in {appended_s:.1f} s through the ingestion code")
    nodes = " (summed over the nodes)" if target.cluster else ""
    out.append(f"- serve RSS after the runs: embedded {rss['embedded']:,.0f} MB, {lab} "
               f"{rss['redis']:,.0f} MB; {lab} used_memory{nodes} {redis_mem / 2**20:,.0f} "
               f"MB; stream entries not applied at the end (no workers ran): {stream_left:,}")
    sock = [f"{name}, {b}: {r['socket_errors']}" for (name, b), r in results.items()
            if r.get("socket_errors")]
    out.append("- wrk socket errors: " + ("; ".join(sock) if sock else "none"))
    out += replies_note(target, counted)
    out.append(log_trouble(logs))
    target.stop()
    return out, demo_redis


# -- part 2: memory --------------------------------------------------------------------------


def fmt_bytes(n: float) -> str:
    if n >= 2**20:
        return f"{n / 2**20:,.1f} MB"
    if n >= 2**10:
        return f"{n / 2**10:,.1f} KB"
    return f"{n:,.0f} B"


def demo_memory_table(d: DemoRedis, client_shoppers: int) -> list[str]:
    st = d.stats
    shoppers = st["h"].keys or client_shoppers
    units = {"items": d.n_items, "shoppers": shoppers, "events": d.n_events}
    used = d.phases[-1][1] - d.phases[0][1]
    out = [f"Redis memory by kind of key, demo shop: {d.n_items:,} items, {shoppers:,} "
           f"shoppers with a history, {d.n_events:,} events (in the streams, none trimmed); "
           "bytes from MEMORY USAGE (exact) over up to 2,000 random keys of each kind, "
           "times the count of keys.", ""]
    out.append("| kind | holds | keys | bytes per key | total | share | per 1,000 of |")
    out.append("|---|---|---:|---:|---:|---:|---|")
    total = sum(s.total for s in st.values())
    for kind, _, holds, unit in KINDS:
        s = st[kind]
        if not s.keys:
            continue
        per = (f"{fmt_bytes(1000 * s.total / units[unit])} per 1,000 {unit}"
               if unit in units else "")
        out.append(f"| `{kind}` | {holds} | {s.keys:,} | {fmt_bytes(s.bytes_per_key)} | "
                   f"{fmt_bytes(s.total)} | {100 * s.total / total:.0f}% | {per} |")
    per_shopper = sum(st[k].total for k in ("h", "b", "r")) / shoppers
    per_item = sum(st[k].total for k in ("items", "cv", "cb", "n")) / d.n_items
    per_event = sum(st[k].total for k in ("seen", "events")) / d.n_events
    out.append(f"| **all** | sum of MEMORY USAGE (used_memory grew {fmt_bytes(used)}) | "
               f"{sum(s.keys for s in st.values()):,} | | {fmt_bytes(total)} | 100% | |")
    out += ["", f"- per 1,000 shoppers (`h` + `b` + `r`): {fmt_bytes(1000 * per_shopper)}",
            f"- per 1,000 items (`items` + `cv` + `cb` + `n`): {fmt_bytes(1000 * per_item)} "
            f"(of which the item records: {fmt_bytes(1000 * st['items'].total / d.n_items)})",
            f"- per 1,000 events kept (`seen` marks + stream entries): "
            f"{fmt_bytes(1000 * per_event)}", ""]
    out.append("| load phase | used_memory after | grew by | seconds |")
    out.append("|---|---:|---:|---:|")
    prev = d.phases[0][1]
    for name, mem, secs in d.phases:
        out.append(f"| {name} | {fmt_bytes(mem)} | {fmt_bytes(mem - prev)} | {secs:.1f} |")
        prev = mem
    return out


async def _replay(url: str, events: list[Any], batch: int = 1_000) -> None:
    """Append then apply ``events`` straight through the store (no HTTP)."""
    from endcap.store.url import open_store

    store: Any = open_store(url)
    try:
        for i in range(0, len(events), batch):
            chunk = events[i:i + batch]
            await store.append(TENANT, chunk)
            await store.apply(TENANT, chunk)
    finally:
        await store.close()


async def _setup_tenant(url: str, items: list[Any]) -> None:
    from endcap.store.url import open_store
    from endcap.tenants.service import create_tenant

    store: Any = open_store(url)
    try:
        await create_tenant(store, TENANT, "bench")
        for i in range(0, len(items), 10_000):
            await store.upsert_items(TENANT, items[i:i + 10_000])
    finally:
        await store.close()


def growth_table(work: Path, steps: list[int], n_items: int) -> list[str]:
    """Synthetic shop, replayed for the first N distinct shoppers, N in ``steps``."""
    from endcap.sampledata.synthetic import generate_shop
    from endcap.store.keys import Keys

    top = steps[-1]
    n_shoppers = math.ceil(top / 1.5)  # ~1.58 history keys per generated shopper
    t0 = time.perf_counter()
    shop = generate_shop(n_items, n_shoppers, 10 * n_shoppers, seed=1,
                         start=time.time() - 30 * 86_400)
    per: Counter[str] = Counter(e.shopper_keys()[0] for e in shop.events)
    # shoppers in a fixed pseudo-random order, so every step adds a like sample of them
    order = sorted(per, key=lambda k: (zlib.crc32(b"bench:" + k.encode()), k))
    rank = {k: i for i, k in enumerate(order)}
    keys = Keys(prefix=PREFIX)
    print(f"generated {len(shop.events):,} events, {len(rank):,} shoppers in "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    srv = start_redis(work)
    url = store_url(srv)
    client = redis.Redis(host=HOST, port=srv.port)
    base = used_memory(client)
    asyncio.run(_setup_tenant(url, shop.items))
    out = [f"Growth with shoppers: a synthetic shop (`generate_shop`, seed 1, {n_items:,} "
           "items, events over 30 days up to now), its events replayed (append, then apply, "
           "in this process) for N distinct shoppers (history keys, a fixed pseudo-random "
           "order; each step adds shoppers); per-kind bytes from MEMORY USAGE over up to "
           "2,000 keys of a kind.",
           ""]
    out.append("| shoppers | events | used_memory | per shopper (`h`+`b`+`r`) | history "
               "entries mean / max | per event (`seen`+stream) | pairs+counters "
               "(`cv`,`cb`,`n`) | items | replay s |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    done = 0
    sent = 0
    for n in steps:
        if n > len(rank):
            out.append(f"| {n:,} | the shop has only {len(rank):,} shoppers | | | | | | | |")
            continue
        batch = [e for e in shop.events if done <= rank[e.shopper_keys()[0]] < n]
        busiest = [keys.history(TENANT, keys.shard_of(k), k) for k, _ in
                   Counter({k: c for k, c in per.items() if rank[k] < n}).most_common(5)]
        t = time.perf_counter()
        asyncio.run(_replay(url, batch))
        secs = time.perf_counter() - t
        done, sent = n, sent + len(batch)
        st = breakdown(client)
        mean_len, _ = history_lengths(client, st["h"])
        max_len = max(client.llen(k) for k in busiest)  # the sample may miss the longest
        per_shopper = sum(st[k].total for k in ("h", "b", "r")) / max(st["h"].keys, 1)
        per_event = sum(st[k].total for k in ("seen", "events")) / sent
        pairs = sum(st[k].total for k in ("cv", "cb", "n"))
        out.append(f"| {n:,} | {sent:,} | {fmt_bytes(used_memory(client) - base)} | "
                   f"{fmt_bytes(per_shopper)} | {mean_len:.1f} / {max_len} | "
                   f"{fmt_bytes(per_event)} | {fmt_bytes(pairs)} | "
                   f"{fmt_bytes(st['items'].total)} | {secs:.1f} |")
        print(f"growth: {n:,} shoppers done ({secs:.1f} s)", file=sys.stderr)
    client.close()
    srv.stop()
    return out


def caps_table(work: Path) -> list[str]:
    """One shopper sent ever more views and purchases: the per-shopper keys stop growing."""
    from endcap.events.model import Event, Line

    srv = start_redis(work)
    url = store_url(srv)
    client = redis.Redis(host=HOST, port=srv.port)
    asyncio.run(_setup_tenant(url, []))
    now = time.time()
    shopper = "u:cap"
    shard = zlib.crc32(shopper.encode()) % 8
    h, b, r = (f"{{{PREFIX}:{TENANT}:{shard}}}:{x}:{shopper}" for x in ("h", "b", "r"))
    out = ["Caps: one shopper (`user_id` cap) sent N views of distinct items and N purchased "
           "items (a purchase event of 10 lines after every 10th view; each line is a "
           "history entry too), applied in this process.", "",
           "| events sent | history entries | history bytes | bought entries | bought bytes | "
           "recent entries |", "|---:|---:|---:|---:|---:|---:|"]
    sent = 0
    for target in (100, 200, 500, 1_000, 1_500):
        evs = []
        for i in range(sent, target):
            ts = now - 10_000 + i
            evs.append(Event(event_id=f"cap-v-{i}", type="view", user_id="cap",
                             item_id=f"item-{i}", timestamp=ts))
            if i % 10 == 0:
                evs.append(Event(event_id=f"cap-p-{i}", type="purchase", user_id="cap",
                                 items=[Line(id=f"buy-{j}", quantity=1, price=1.0)
                                        for j in range(i, i + 10)], timestamp=ts + 0.5))
        asyncio.run(_replay(url, evs, batch=200))
        sent = target
        out.append(f"| {target:,} views, {target:,} bought | {client.llen(h):,} | "
                   f"{fmt_bytes(client.memory_usage(h, samples=0) or 0)} | "
                   f"{client.zcard(b):,} | {fmt_bytes(client.memory_usage(b, samples=0) or 0)} "
                   f"| {client.llen(r)} |")
    client.close()
    srv.stop()
    return out


def part_memory(args: argparse.Namespace, work: Path, shop: Any,
                demo_redis: DemoRedis | None) -> list[str]:
    if demo_redis is None:
        target = start_target(work, cluster=False)
        demo_redis = load_demo_redis(target, shop, None, work / "logs")
        target.stop()
    out = demo_memory_table(demo_redis, 0)
    steps = [10_000, 30_000] if args.quick else [10_000, 30_000, 100_000]
    out += ["", *growth_table(work, steps, 10000)]
    out += ["", *caps_table(work)]
    return out


# -- part 3: event-to-effect latency ---------------------------------------------------------


async def _rate_loader(cfg: dict[str, Any]) -> dict[str, Any]:
    """Open loop: request k is sent at start + k / per_second, whatever came before."""
    urls: list[str] = cfg["urls"]
    per_request = cfg["batch"]
    per_second = cfg["rate"] / per_request
    total = int(per_second * cfg["seconds"])
    items, sessions = cfg["items"], cfg["sessions"]
    rng = random.Random(cfg["seed"])
    run = f"lat-{os.getpid()}-{int(time.time())}"
    statuses: Counter[str] = Counter()
    accepted = 0
    latencies: list[float] = []
    late: list[float] = []
    sem = asyncio.Semaphore(cfg["max_in_flight"])
    headers = {"Authorization": f"Bearer {cfg['key']}", "Content-Type": "application/json"}

    def body(k: int) -> bytes:
        evs = [{"event_id": f"{run}-{k}-{j}", "type": "view",
                "session_id": sessions[rng.randrange(len(sessions))],
                "item_id": items[rng.randrange(len(items))]} for j in range(per_request)]
        return json.dumps(evs).encode()

    limits = httpx.Limits(max_connections=cfg["max_in_flight"])
    async with httpx.AsyncClient(timeout=10, limits=limits, headers=headers) as client:
        start = time.perf_counter() + 0.2

        async def one(k: int) -> None:
            nonlocal accepted
            data = body(k)
            await asyncio.sleep(max(0.0, start + k / per_second - time.perf_counter()))
            async with sem:
                t = time.perf_counter()
                late.append(t - (start + k / per_second))
                try:
                    r = await client.post(urls[k % len(urls)] + "/v1/events", content=data)
                except httpx.HTTPError as e:
                    statuses[type(e).__name__] += 1
                    return
                latencies.append(time.perf_counter() - t)
                statuses[str(r.status_code)] += 1
                if r.status_code == 202:
                    accepted += r.json()["accepted"]

        tasks = []
        for k in range(total):  # created ahead in slices, so bodies are built off the clock
            while k / per_second > time.perf_counter() - start + 1.0:
                await asyncio.sleep(0.05)
            tasks.append(asyncio.create_task(one(k)))
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - start
    latencies.sort()
    late.sort()
    return {"requests": total, "accepted": accepted, "seconds": seconds,
            "statuses": dict(statuses), "p50_ms": 1000 * pct(latencies, 50),
            "p99_ms": 1000 * pct(latencies, 99), "late_p99_ms": 1000 * pct(late, 99)}


def pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[i]


async def _probes(urls: list[str], key: str, items: list[str], seconds: float,
                  every: float, poll: float, give_up: float) -> list[float | None]:
    """Each probe: one view for a fresh session to one replica, then poll the other
    replica's recently-viewed pod until the item shows; seconds from the 202 to then."""
    rng = random.Random(3)
    run = f"probe-{os.getpid()}-{int(time.time())}"
    out: list[float | None] = []
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=5, headers=headers) as client:

        async def probe(k: int) -> None:
            a, b = urls[k % 2], urls[(k + 1) % 2]
            item = items[rng.randrange(len(items))]
            session = f"{run}-{k}"
            r = await client.post(a + "/v1/events", json={
                "event_id": f"{run}-{k}", "type": "view", "session_id": session,
                "item_id": item})
            t0 = time.perf_counter()
            if r.status_code != 202 or r.json().get("accepted") != 1:
                out.append(None)
                return
            path = f"{b}/v1/pods/recently-viewed/recommendations?session_id={session}"
            while time.perf_counter() - t0 < give_up:
                got = await client.get(path)
                if got.status_code == 200 and any(x["id"] == item
                                                   for x in got.json()["results"]):
                    out.append(time.perf_counter() - t0)
                    return
                await asyncio.sleep(poll)
            out.append(None)

        tasks = []
        start = time.perf_counter()
        k = 0
        while time.perf_counter() - start < seconds:
            tasks.append(asyncio.create_task(probe(k)))
            k += 1
            await asyncio.sleep(max(0.0, start + k * every - time.perf_counter()))
        await asyncio.gather(*tasks)
    return out


HIST = "endcap_stream_event_to_effect_seconds"


def scrape_hist(port: int) -> dict[float, float]:
    """Cumulative bucket counts of the workers' event-to-effect histogram, summed over
    label sets; {} if the metric is not there."""
    try:
        text = httpx.get(f"http://{HOST}:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    out: dict[float, float] = {}
    for m in re.finditer(rf'^{HIST}_bucket\{{(.*?)\}} ([0-9.e+-]+)$', text, re.M):
        le = re.search(r'le="([^"]+)"', m.group(1))
        if le:
            bound = math.inf if le.group(1) == "+Inf" else float(le.group(1))
            out[bound] = out.get(bound, 0.0) + float(m.group(2))
    return out


def hist_quantile(buckets: dict[float, float], q: float) -> float:
    """Prometheus' histogram_quantile: linear within the bucket holding the rank."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return float("nan")
    rank = q * buckets[bounds[-1]]
    prev_b, prev_c = 0.0, 0.0
    for b in bounds:
        c = buckets[b]
        if c >= rank:
            if math.isinf(b):
                return prev_b
            return prev_b + (b - prev_b) * ((rank - prev_c) / (c - prev_c) if c > prev_c else 0)
        prev_b, prev_c = b, c
    return prev_b


def part_latency(args: argparse.Namespace, work: Path, shop: Any) -> list[str]:
    from endcap.cli import demo
    from endcap.store.url import open_store
    from endcap.tenants.service import create_tenant

    if not stream_cli():
        return ["Event-to-effect latency: SKIPPED: this endcap has no `endcap stream` "
                "command yet (the stream workers). Rerun `bench/redis.py --part latency` "
                "once it exists."]
    logs = work / "logs" / "latency"  # its own: the speed part's stream logs have like names
    logs.mkdir(exist_ok=True)
    target = start_target(work, args.cluster)  # not pinned
    url = target.url
    client = target.client()

    async def setup() -> str:
        store: Any = open_store(url)
        try:
            new = await create_tenant(store, TENANT, "bench")
            for i in range(0, len(shop.items), 10_000):
                await store.upsert_items(TENANT, shop.items[i:i + 10_000])
            for pod in demo.DEMO_PODS:
                await store.put_pod(TENANT, pod)
            return new.public_key
        finally:
            await store.close()

    key = asyncio.run(setup())
    ports = [free_port(), free_port()]
    replicas = [start_serve(url, p, logs / f"serve-{i}.log", cpu=None)
                for i, p in enumerate(ports)]
    urls = [f"http://{HOST}:{p}" for p in ports]
    workers = start_workers(url, 2, logs)
    time.sleep(2)  # let the workers join their groups
    for p, _ in workers:
        if p.poll() is not None:
            raise SystemExit(f"endcap stream exited with {p.returncode}; see {logs}")
    items = [it.id for it in shop.items]
    rng = random.Random(11)
    sessions = [f"lat-s-{rng.randrange(10**9)}" for _ in range(20_000)]
    seconds = args.seconds
    cfg = {"urls": urls, "key": key, "items": items, "sessions": sessions, "rate": args.rate,
           "batch": args.batch, "seconds": seconds, "seed": 5, "max_in_flight": 64}
    cfg_file = work / "rate-loader.json"
    cfg_file.write_text(json.dumps(cfg))
    hist0 = [scrape_hist(mp) for _, mp in workers]
    counted = target.counters()  # what follows is measured
    watched = {"serve A": replicas[0].pid, "serve B": replicas[1].pid,
               "stream 1": workers[0][0].pid, "stream 2": workers[1][0].pid}
    if target.cluster:
        watched |= {f"node {i}": pid for i, pid in enumerate(target.pids(), 1)}
    else:
        watched["redis-server"] = target.pids()[0]
    cpu0 = {k: cpu_seconds(pid) for k, pid in watched.items()}
    cpus, t_load = cpu_times(), time.perf_counter()
    loader = spawn([sys.executable, str(Path(__file__).resolve()), "--rate-loader",
                    str(cfg_file)], logs / "rate-loader.log")
    time.sleep(2.0)  # probe the steady state
    probes = asyncio.run(_probes(urls, key, items, seconds - 3.0, every=0.05, poll=0.005,
                                 give_up=5.0))
    try:
        loader.wait(timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        stop(loader)
        raise SystemExit("the rate loader did not finish in time") from None
    text = (logs / "rate-loader.log").read_text(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.startswith("{")]
    if loader.returncode != 0 or not lines:
        raise SystemExit(f"rate loader failed ({loader.returncode}):\n{text[-3000:]}")
    load = json.loads(lines[-1])
    t_end = time.perf_counter()
    used = {k: 100 * (cpu_seconds(pid) - cpu0[k]) / (t_end - t_load)
            for k, pid in watched.items()}
    machine = busy(cpus, cpu_times())
    left = backlog(client)
    while left and time.perf_counter() - t_end < 30:
        time.sleep(0.2)
        left = backlog(client)
    drained = time.perf_counter() - t_end
    hist1 = [scrape_hist(mp) for _, mp in workers]
    for p in replicas + [w for w, _ in workers]:
        stop(p)
    client.close()
    notes = [*replies_note(target, counted), log_trouble(logs)]
    target.stop()

    delta: dict[float, float] = {}
    for h0, h1 in zip(hist0, hist1, strict=True):
        for b, c in h1.items():
            delta[b] = delta.get(b, 0.0) + c - h0.get(b, 0.0)
    found = sorted(x for x in probes if x is not None)
    lost = sum(1 for x in probes if x is None)
    ms = [1000 * x for x in found]
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(load["statuses"].items()))
    out = [f"Event-to-effect: 2 `endcap serve` replicas and 2 `endcap stream` workers on "
           f"{target.what}, nothing pinned (nproc {os.cpu_count()}); `view` events at "
           f"{args.rate:,}/s target, {args.batch} a request alternating replicas, "
           f"{seconds:.0f} s; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.", "",
           "| measure | value |", "|---|---|"]
    out.append(f"| events accepted | {load['accepted']:,} in {load['seconds']:.1f} s = "
               f"{load['accepted'] / load['seconds']:,.0f} events/s ({load['requests']:,} "
               f"requests; HTTP {statuses}) |")
    out.append(f"| POST /v1/events latency (50 events) | p50 {load['p50_ms']:.1f} ms, p99 "
               f"{load['p99_ms']:.1f} ms; sender behind schedule p99 "
               f"{load['late_p99_ms']:.1f} ms |")
    if ms:
        out.append(f"| probes: 202 on one replica to visible on the other (poll every 5 ms) | "
                   f"p50 {pct(ms, 50):.1f} ms, p99 {pct(ms, 99):.1f} ms, max {ms[-1]:.1f} ms "
                   f"({len(ms)} probes; {lost} not visible within 5 s) |")
    else:
        out.append(f"| probes | none became visible within 5 s ({lost} sent) |")
    total = delta.get(math.inf, 0.0)
    if total > 0:
        out.append(f"| workers' `{HIST}` | p50 {1000 * hist_quantile(delta, 0.5):.1f} ms, "
                   f"p99 {1000 * hist_quantile(delta, 0.99):.1f} ms ({total:,.0f} events; "
                   "interpolated within buckets) |")
    else:
        out.append(f"| workers' `{HIST}` | not found on the workers' metrics ports |")
    out.append("| CPU while loaded (% of one core) | " + ", ".join(
        f"{k} {v:.0f}" for k, v in used.items()) + f"; CPUs busy {machine} % (the loader "
        "and the probes run on them too) |")
    out.append(f"| stream backlog after the load | {'0' if not left else f'{left:,}'} "
               f"(waited {drained:.1f} s) |")
    met = pct(ms, 99) < 100 if ms else False
    out.append(f"| target: p99 under 100 ms at {args.rate:,} events/s | "
               f"{'met' if met else 'NOT met'} (by the probes) |")
    return [*out, "", *notes]


# -- main ------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["speed", "memory", "latency", "all"], default="all")
    ap.add_argument("--quick", action="store_true", help="shorter runs, smaller growth")
    ap.add_argument("--duration", type=int, help="seconds per wrk run (default 10; quick 5)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--seconds", type=float, help="latency load (default 20; quick 10)")
    ap.add_argument("--rate", type=int, default=5_000, help="latency part: events/s")
    ap.add_argument("--batch", type=int, default=50, help="latency part: events a request")
    ap.add_argument("--cluster", action="store_true",
                    help="speed and latency parts on a 3-master Redis Cluster (all on CPU 1 "
                         "in the speed part) instead of one redis-server")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--rate-loader", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rate_loader:
        cfg = json.loads(Path(args.rate_loader).read_text())
        print(json.dumps(asyncio.run(_rate_loader(cfg))))
        return
    args.duration = args.duration or (5 if args.quick else 10)
    args.seconds = args.seconds or (10.0 if args.quick else 20.0)
    if args.cluster and args.part in ("memory", "all"):
        ap.error("--cluster measures the speed and latency parts only (--part speed or "
                 "--part latency): the memory part counts keys and reads MEMORY USAGE and "
                 "INFO memory on one server; run it without --cluster")
    for tool in ("redis-server", "wrk", *(["redis-cli"] if args.cluster else [])):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found: apt-get install {tool.split('-')[0]}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    work = Path(tempfile.mkdtemp(prefix="endcap-redis-bench-"))
    (work / "logs").mkdir()
    parts = ["speed", "memory", "latency"] if args.part == "all" else [args.part]
    t0 = time.perf_counter()
    tables: list[list[str]] = []
    try:
        shop = shop_data()
        demo_redis = None
        for part in parts:
            t = time.perf_counter()
            if part == "speed":
                table, demo_redis = part_speed(args, work, shop)
            elif part == "memory":
                table = part_memory(args, work, shop, demo_redis)
            else:
                table = part_latency(args, work, shop)
            tables.append([f"### {part} ({time.perf_counter() - t:.0f} s)", "", *table])
            print("\n".join(tables[-1]) + "\n", file=sys.stderr)  # in case a later part fails
    finally:
        stop_all()
        for srv in SERVERS:
            srv.stop()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nendcap Redis benchmark: `.venv/bin/python bench/redis.py "
          f"{' '.join(sys.argv[1:])}`; {time.perf_counter() - t0:.0f} s in all.\n")
    for table in tables:
        print("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
