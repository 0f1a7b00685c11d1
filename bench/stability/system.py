"""The system under test, started as an operator would: a private redis-server, a tenant,
the shop loaded with ``endcap load``, ``endcap stream``, ``endcap train``, ``endcap serve``,
and the run's pods created over the pod API."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from .mix import PODS

HOST = "127.0.0.1"
TENANT = "stab"
PREFIX = "stab"
SHARDS = 8


def endcap() -> list[str]:
    exe = Path(sys.executable).with_name("endcap")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "endcap.cli.main"]


def pin(cpu: int | None) -> list[str]:
    """``taskset -c CPU`` when pinning is asked for and possible."""
    if cpu is None or not shutil.which("taskset") or (os.cpu_count() or 1) <= cpu:
        return []
    return ["taskset", "-c", str(cpu)]


#: On the shared CPU 1, Redis (on every request's path) goes before the load generator
#: (nice 0: it stands for clients on other machines) and the stream worker (background
#: work with a 100-ms budget). Only where pinning is on; a negative value needs root.
NICE = {"redis": -5, "stream": 5}


def renice(pid: int, nice: int) -> int | None:
    """Set every thread of ``pid`` to ``nice`` (a thread already nicer keeps its value);
    the value set, or None where it is not allowed."""
    done = None
    for task in Path(f"/proc/{pid}/task").iterdir():
        tid = int(task.name)
        try:
            value = max(nice, os.getpriority(os.PRIO_PROCESS, tid)) if nice > 0 else nice
            os.setpriority(os.PRIO_PROCESS, tid, value)
            done = nice
        except OSError:
            continue
    return done


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class System:
    """Everything started for one run, stopped by :meth:`stop` (also on errors)."""

    work: Path
    pin: bool
    steps: list[tuple[str, float, str]] = field(default_factory=list)
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    redis: Any = None
    store_url: str = ""
    api_port: int = 0
    metrics_port: int = 0
    public_key: str = ""
    secret_token: str = ""
    model_version: str = ""

    @property
    def logs(self) -> Path:
        path = self.work / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    def pids(self) -> dict[str, int]:
        """The processes whose memory is watched: redis, api, stream."""
        out = {"redis": self.redis.proc.pid} if self.redis and self.redis.proc else {}
        for role in ("api", "stream"):
            if role in self.children:
                out[role] = self.children[role].pid
        return out

    def cpu(self, role: str) -> int | None:
        """api on CPU 0; Redis, the stream worker and the load generator on CPU 1."""
        if not self.pin:
            return None
        return 0 if role == "api" else 1

    def step(self, name: str, t0: float, detail: str = "") -> None:
        secs = time.perf_counter() - t0
        self.steps.append((name, secs, detail))
        print(f"  {name}: {secs:.1f} s {detail}", file=sys.stderr, flush=True)

    def cli(self, *args: str, timeout: float = 1800, log: str | None = None) -> str:
        """``endcap ARGS`` to the end; its output (SystemExit with the log if it fails)."""
        out = self.logs / f"{log or args[0]}.log"
        with out.open("ab") as f:
            done = subprocess.run([*endcap(), *args], stdout=f, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=timeout, check=False)
        text = out.read_text(errors="replace")
        if done.returncode != 0:
            raise SystemExit(f"endcap {' '.join(args[:1])} failed ({done.returncode}):\n"
                             f"{text[-3000:]}")
        return text

    def spawn(self, role: str, cmd: list[str], cpu: int | None) -> subprocess.Popen[bytes]:
        with (self.logs / f"{role}.log").open("ab") as f:
            proc = subprocess.Popen([*pin(cpu), *cmd], stdout=f,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.children[role] = proc
        return proc

    def stop(self) -> None:
        for proc in self.children.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.children.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self.redis is not None:
            self.redis.stop()

    # -- Redis state -----------------------------------------------------------------------

    def redis_client(self) -> Any:
        # by name: bench/redis.py would shadow redis-py for a type checker run on bench/
        redis = importlib.import_module("redis")
        return redis.Redis(host=HOST, port=self.redis.port, protocol=2, driver_info=None)

    def mark_bytes(self, client: Any, sample: int = 10_000) -> float:
        """What one idempotency mark costs Redis, in bytes: ``sample`` of the tenant's
        mark keys are copied (same names, value and TTL) into the scratch database 1
        and the rise of ``used_memory`` is divided among them (``MEMORY USAGE`` would
        leave out the key's entries in the keyspace and expiry tables). NaN when
        there are no marks."""
        names: list[bytes] = []
        for key in client.scan_iter(match=f"{{{PREFIX}:{TENANT}:*}}:seen:*", count=2000):
            names.append(key)
            if len(names) >= sample:
                break
        if not names:
            return float("nan")
        redis = importlib.import_module("redis")
        scratch = redis.Redis(host=HOST, port=self.redis.port, db=1, protocol=2)
        try:
            scratch.flushdb()
            before = int(scratch.info("memory")["used_memory"])
            pipe = scratch.pipeline(transaction=False)
            for name in names:
                pipe.set(name, "a", ex=6 * 3600)
            pipe.execute()
            after = int(scratch.info("memory")["used_memory"])
            scratch.flushdb()
        finally:
            scratch.close()
        return (after - before) / len(names)

    def backlog(self, client: Any, group: str = "apply") -> int:
        """Entries of the tenant's streams that ``group`` has not acknowledged (not read
        yet plus pending), straight from Redis (XINFO GROUPS)."""
        total = 0
        for s in range(SHARDS):
            key = f"{{{PREFIX}:{TENANT}:{s}}}:events"
            if not client.exists(key):
                continue
            groups = {g["name"].decode(): g for g in client.xinfo_groups(key)}
            g = groups.get(group)
            if g is None:
                total += int(client.xlen(key))
                continue
            lag = g.get("lag")
            if lag is None:  # Redis cannot tell (entries deleted): compare ids instead
                last = client.xinfo_stream(key)["last-generated-id"]
                lag = 0 if g["last-delivered-id"] == last else 1
            total += int(lag) + int(g["pending"])
        return total


def _wait(what: str, ok: Any, timeout: float, proc: subprocess.Popen[bytes] | None = None,
          log: Path | None = None, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            text = log.read_text(errors="replace")[-3000:] if log else ""
            raise SystemExit(f"{what}: the process exited with {proc.returncode}\n{text}")
        try:
            if ok():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(every)
    raise SystemExit(f"{what}: not within {timeout:.0f} s")


def write_shop(sys_: System, data: str) -> Path:
    """The shop as items.ndjson and events.ndjson: the bundled UCI Online Retail data
    (``online-retail``) or a small synthetic shop (``synthetic:ITEMS:SHOPPERS:EVENTS``)."""
    out = sys_.work / "shop"
    t0 = time.perf_counter()
    if data == "online-retail":
        from endcap.sampledata.online_retail import load_online_retail
        from endcap.sampledata.shop import write_shop as write

        write(load_online_retail(), out)
    else:
        m = re.fullmatch(r"synthetic:(\d+):(\d+):(\d+)", data)
        if not m:
            raise SystemExit(f"--data {data!r}: online-retail or synthetic:ITEMS:SHOPPERS:EVENTS")
        start = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 20 * 86400))
        sys_.cli("generate", "--items", m[1], "--shoppers", m[2], "--events", m[3], "--seed",
                 "1", "--start", start, "--days", "20", "--out", str(out))
    sys_.step("write the shop as NDJSON", t0, data)
    return out


def shop_for_mix(shop_dir: Path, catalog_changes: int) -> tuple[dict[str, Any], list[Any]]:
    """What the load generator draws from (shoppers by activity, items by popularity) and
    the item records its catalog update re-prices (the most popular ones)."""
    from endcap.sampledata.shop import read_shop

    shop = read_shop(shop_dir)
    users: Counter[str] = Counter()
    touched: Counter[str] = Counter()
    for e in shop.events:
        if e.user_id:
            users[e.user_id] += 1
        for i in e.item_ids():
            touched[i] += 1
    by_id = {it.id: it for it in shop.items}
    items = [i for i, _ in touched.most_common() if i in by_id]
    items += [i for i in by_id if i not in touched]
    cats = Counter(c.split("/")[0] for it in shop.items for c in it.categories)
    mix = {"users": [u for u, _ in users.most_common()], "items": items,
           "prices": {it.id: float(it.price or 1.0) for it in shop.items},
           "categories": sorted(c for c, n in cats.items() if n >= 10) or ["Other"]}
    records = [msgspec.to_builtins(by_id[i]) for i in items[:catalog_changes]]
    return mix, records


def start(sys_: System, data: str, embed: bool, stream_args: Sequence[str] = ()) -> Path:
    """Start and fill the whole system; returns the shop directory."""
    from tests.redis_servers import RedisServer

    t0 = time.perf_counter()
    sys_.redis = RedisServer(sys_.work)
    archive = sys_.work / "archive"
    sys_.store_url = f"{sys_.redis.url}?prefix={PREFIX}&archive=file://{archive}"
    sys_.step("redis-server", t0, f"port {sys_.redis.port}, no persistence")

    t0 = time.perf_counter()
    out = sys_.cli("tenants", "create", TENANT, "--store", sys_.store_url)
    keys = dict(re.findall(r"^(public key|secret token):\s+(\S+)", out, re.M))
    sys_.public_key, sys_.secret_token = keys["public key"], keys["secret token"]
    sys_.step("endcap tenants create", t0)

    shop_dir = write_shop(sys_, data)
    # The worker starts first and applies the events while they are loaded; nothing is
    # pinned until the load starts, so that the set-up has both cores.
    sys_.metrics_port = free_port()
    stream = sys_.spawn("stream", [*endcap(), "stream", "--store", sys_.store_url,
                                   "--consumer", "stab-1", "--metrics-port",
                                   str(sys_.metrics_port), *stream_args], cpu=None)
    t0 = time.perf_counter()
    out = sys_.cli("load", "--store", sys_.store_url, "--tenant", TENANT, "--dir",
                   str(shop_dir))
    sys_.step("endcap load", t0, out.strip().splitlines()[-1] if out.strip() else "")
    t0 = time.perf_counter()
    client = sys_.redis_client()
    try:
        _wait("endcap stream applying the loaded events", lambda: sys_.backlog(client) == 0,
              1800, stream, sys_.logs / "stream.log", every=0.5)
    finally:
        client.close()
    sys_.step("endcap stream: the rest of the loaded events applied", t0)

    t0 = time.perf_counter()
    out = sys_.cli("train", "--store", sys_.store_url, "--tenant", TENANT,
                   *([] if embed else ["--no-embed"]))
    sys_.step("endcap train" + ("" if embed else " --no-embed"), t0,
              (out.strip().splitlines() or [""])[-1][:120])

    t0 = time.perf_counter()
    sys_.api_port = free_port()
    api = sys_.spawn("api", [*endcap(), "serve", "--store", sys_.store_url, "--host", HOST,
                             "--port", str(sys_.api_port)], cpu=sys_.cpu("api"))
    for role, pid in (("redis", sys_.redis.proc.pid), ("stream", stream.pid)):
        if (cpu := sys_.cpu(role)) is not None and pin(cpu):  # every thread, already running
            subprocess.run(["taskset", "-apc", str(cpu), str(pid)], capture_output=True,
                           check=False, timeout=10)
        if sys_.pin and (got := renice(pid, NICE[role])) is not None:
            sys_.step(f"{role}: nice {got}", time.perf_counter())
    with httpx.Client(base_url=sys_.api_url, timeout=5) as c:
        _wait("endcap serve /readyz", lambda: c.get("/readyz").status_code == 200, 300, api,
              sys_.logs / "api.log")
        sys_.step("endcap serve: /readyz 200", t0)
        secret = {"Authorization": f"Bearer {sys_.secret_token}"}
        for pod_id, body in PODS.items():
            r = c.put(f"/v1/pods/{pod_id}", json=body, headers=secret)
            if r.status_code not in (200, 201):
                raise SystemExit(f"PUT /v1/pods/{pod_id}: {r.status_code} {r.text[:300]}")
        public = {"Authorization": f"Bearer {sys_.public_key}"}

        def model() -> bool:
            r = c.get("/v1/pods/stab-bestsellers/recommendations", headers=public)
            sys_.model_version = str(r.json().get("model_version") or "")
            return r.status_code == 200 and bool(sys_.model_version)

        t0 = time.perf_counter()
        _wait("a model served", model, 120, api, sys_.logs / "api.log", every=0.5)
        sys_.step("pods created, model served", t0, sys_.model_version)
    return shop_dir


def scrape(url: str, timeout: float = 2.0) -> dict[str, float]:
    """A Prometheus text page as {'name{labels}': value} (comments skipped)."""
    out: dict[str, float] = {}
    text = httpx.get(url, timeout=timeout).text
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                continue
    return out


def api_statuses(metrics: dict[str, float]) -> dict[str, float]:
    """``endcap_api_requests_total`` summed by status."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if k.startswith("endcap_api_requests_total{"):
            m = re.search(r'status="(\d+)"', k)
            if m:
                out[m[1]] = out.get(m[1], 0.0) + v
    return out


def dump(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1, default=str))
